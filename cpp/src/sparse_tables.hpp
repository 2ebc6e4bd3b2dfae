// The stream tables blob of hepvq.baselines.sparse_streams (StreamTables.to_bytes: "HVST", version byte, zstd of
// the header, plane table, one rANS table per stream and the shape book) -> the core's sparse::Tables.
// Used by the codecs whose files carry such tables (pixel_sparse format 2; tpc_inr format 2's coordinates).
#pragma once

#include <string>

#include "hepvq/sparse_streams.hpp"

namespace hepvq {
namespace detail {

// StreamTables.from_bytes for the cluster layout (the one the core decodes); `where` names the blob in errors.
// Also returns the JSON info's "kind" (e.g. "pixel_sparse") through `kind` when not null.
sparse::Tables read_sparse_tables(const std::string& blob, const std::string& where, std::string* kind = nullptr);

}  // namespace detail
}  // namespace hepvq
