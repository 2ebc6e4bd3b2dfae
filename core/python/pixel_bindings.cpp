// Bindings of the pixel codec functions (filled in below as the core grows).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_pixel(py::module_& m) { (void)m; }
