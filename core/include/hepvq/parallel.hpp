// Split [0, n) into contiguous ranges run on `threads` std::threads (the calling thread takes the first).
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace hepvq {

template <class F>
void parallel_ranges(std::size_t n, int threads, std::size_t min_per_thread, F&& fn) {
  std::size_t t = static_cast<std::size_t>(std::max(threads, 1));
  t = std::min(t, std::max<std::size_t>(1, n / std::max<std::size_t>(min_per_thread, 1)));
  if (t <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(t);
  const std::size_t step = (n + t - 1) / t;
  for (std::size_t w = 1; w < t; ++w)
    pool.emplace_back([&, w] {
      try {
        fn(std::min(n, w * step), std::min(n, (w + 1) * step));
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  try {
    fn(std::size_t{0}, std::min(n, step));
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace hepvq
