#include "resolver/admin/metric_families.hpp"

#include <array>

namespace vnetdns::admin {

namespace {
constexpr std::array<FamilyInfo, static_cast<std::size_t>(Family::kCount)> kFamilies = {{
#define VNETDNS_METRIC_INFO(id, name, type, labels, help) {name, type, labels, help},
    VNETDNS_METRIC_FAMILIES(VNETDNS_METRIC_INFO)
#undef VNETDNS_METRIC_INFO
}};
}  // namespace

const FamilyInfo& family_info(Family f) noexcept { return kFamilies[static_cast<std::size_t>(f)]; }

std::string metrics_doc_table() {
  std::string out = "| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n";
  for (const FamilyInfo& f : kFamilies) {
    out += "| `";
    out += f.name;
    out += "` | ";
    out += f.type;
    out += " | ";
    if (f.labels[0] != '\0') {
      out += '`';
      out += f.labels;
      out += '`';
    }
    out += " | ";
    out += f.help;
    out += " |\n";
  }
  return out;
}

}  // namespace vnetdns::admin
