// Typed integer columns of a TTree (see internal.hpp).
#include <TBranch.h>
#include <TLeaf.h>
#include <TTree.h>

#include <cstring>

#include "internal.hpp"

namespace hepvq {
namespace detail {

namespace {
// ROOT leaf type -> (bytes, signed); 0 bytes: not an integer type the codecs write
std::pair<int, bool> intType(const std::string& t) {
  if (t == "UChar_t" || t == "Bool_t") return {1, false};
  if (t == "Char_t") return {1, true};
  if (t == "UShort_t") return {2, false};
  if (t == "Short_t") return {2, true};
  if (t == "UInt_t") return {4, false};
  if (t == "Int_t") return {4, true};
  if (t == "ULong64_t" || t == "ULong_t") return {8, false};
  if (t == "Long64_t" || t == "Long_t") return {8, true};
  return {0, false};
}
}  // namespace

Column::Column(TTree* tree, const std::string& branch, const std::string& where) : name_(branch), where_(where) {
  branch_ = tree->GetBranch(branch.c_str());
  if (!branch_) throw ReadError(where + ": no branch '" + branch + "'");
  if (branch_->GetListOfLeaves()->GetEntries() != 1)
    throw ReadError(where + ", branch '" + branch + "': expected one leaf (counter + array or a scalar), found " +
                    std::to_string(branch_->GetListOfLeaves()->GetEntries()));
  leaf_ = static_cast<TLeaf*>(branch_->GetListOfLeaves()->At(0));
  type_ = leaf_->GetTypeName();
  auto t = intType(type_);
  if (!t.first)
    throw ReadError(where + ", branch '" + branch + "': type " + type_ +
                    " is not an integer type (std::vector branches are not read by the C++ reader)");
  elem_ = t.first;
  signed_ = t.second;
  count_ = leaf_->GetLeafCount();
  if (!count_ && leaf_->GetLenStatic() != 1)
    throw ReadError(where + ", branch '" + branch + "': fixed-size arrays are not part of the hepvq layout");
  buf_.resize(static_cast<std::size_t>(elem_) * 64);
  branch_->SetAddress(buf_.data());
}

void Column::read(std::int64_t entry) {
  if (count_) {
    if (count_->GetBranch()->GetEntry(entry) <= 0)
      throw ReadError(where_ + ", branch '" + count_->GetBranch()->GetName() + "': cannot read entry " +
                      std::to_string(entry));
    const double n = count_->GetValue(0);
    if (n < 0 || n > 2e9)
      throw ReadError(where_ + ", branch '" + count_->GetBranch()->GetName() + "', entry " +
                      std::to_string(entry) + ": bad counter " + std::to_string(n));
    n_ = static_cast<std::size_t>(n);
    if (n_ * elem_ > buf_.size()) {
      buf_.resize(n_ * elem_ * 3 / 2 + elem_);
      branch_->SetAddress(buf_.data());
    }
  } else {
    n_ = 1;
  }
  if (branch_->GetEntry(entry) < 0)
    throw ReadError(where_ + ", branch '" + name_ + "': cannot read entry " + std::to_string(entry));
}

std::int64_t Column::at(std::size_t i) const {
  const unsigned char* p = buf_.data() + i * elem_;
  switch (elem_ * (signed_ ? -1 : 1)) {
    case 1: return *p;
    case -1: return static_cast<std::int8_t>(*p);
    case 2: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
    case -2: { std::int16_t v; std::memcpy(&v, p, 2); return v; }
    case 4: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
    case -4: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    case 8: { std::uint64_t v; std::memcpy(&v, p, 8); return static_cast<std::int64_t>(v); }
    default: { std::int64_t v; std::memcpy(&v, p, 8); return v; }
  }
}

void Column::toInt64(std::vector<std::int64_t>& out) const {
  out.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) out[i] = at(i);
}

const Column& field(const Products& products, const std::string& instance, const std::string& name,
                    const std::string& where) {
  auto p = products.find(instance);
  if (p == products.end()) throw ReadError(where + ": product instance '" + instance + "' is missing");
  auto f = p->second.find(name);
  if (f == p->second.end())
    throw ReadError(where + ": product instance '" + instance + "' has no field '" + name + "'");
  return *f->second;
}

}  // namespace detail
}  // namespace hepvq
