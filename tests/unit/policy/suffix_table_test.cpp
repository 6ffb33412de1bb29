// SuffixTable: longest-suffix match at label boundaries, the root rule, matched label counts,
// duplicates, names deeper than any entry.
#include "resolver/policy/suffix_table.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace vnetdns::policy {
namespace {

wire::Name N(const char* text) { return wire::Name::from_text(text); }

struct Row {
  const char* qname;
  int expected;  // -1: no match
  std::size_t labels;
};

void check_rows(const SuffixTable<int>& table, const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    INFO(row.qname);
    std::size_t labels = 999;
    const int* v = table.find(N(row.qname), &labels);
    if (row.expected < 0) {
      CHECK(v == nullptr);
    } else {
      REQUIRE(v != nullptr);
      CHECK(*v == row.expected);
      CHECK(labels == row.labels);
    }
  }
}

TEST_CASE("SuffixTable: longest suffix wins, at label boundaries only", "[unit][policy]") {
  SuffixTable<int> table;
  CHECK(table.insert(N("azurecr.io"), 1));
  CHECK(table.insert(N("privatelink.azurecr.io"), 2));
  CHECK(table.insert(N("corp.example"), 3));
  CHECK(table.size() == 3);
  check_rows(table, {
                        {"azurecr.io", 1, 2},
                        {"myregistry.azurecr.io", 1, 2},
                        {"a.b.c.d.e.f.myregistry.azurecr.io", 1, 2},
                        {"privatelink.azurecr.io", 2, 3},
                        {"myregistry.privatelink.azurecr.io", 2, 3},
                        {"myregistry.westeurope.data.privatelink.azurecr.io", 2, 3},
                        {"MyRegistry.PrivateLink.AzureCR.IO", 2, 3},
                        {"xazurecr.io", -1, 0},  // not under azurecr.io
                        {"xprivatelink.azurecr.io", 1, 2},
                        {"io", -1, 0},
                        {"azurecr.io.evil.example", -1, 0},
                        {"example", -1, 0},
                        {"host.corp.example", 3, 2},
                        {".", -1, 0},
                    });
}

TEST_CASE("SuffixTable: the root rule matches everything else", "[unit][policy]") {
  SuffixTable<int> table;
  CHECK(table.insert(N("."), 0));
  CHECK(table.insert(N("azurecr.io"), 1));
  check_rows(table, {
                        {"xazurecr.io", 0, 0},
                        {"www.example.com", 0, 0},
                        {".", 0, 0},
                        {"io", 0, 0},
                        {"myregistry.azurecr.io", 1, 2},
                    });
  SuffixTable<int> root_only;
  root_only.insert(N("."), 7);
  check_rows(root_only, {{"a.b.c.d.e.f.g.h", 7, 0}, {".", 7, 0}});
}

TEST_CASE("SuffixTable: duplicates are refused, the first value kept; empty table",
          "[unit][policy]") {
  SuffixTable<int> table;
  CHECK(table.find(N("anything.example")) == nullptr);
  CHECK(table.insert(N("example.com"), 1));
  CHECK_FALSE(table.insert(N("EXAMPLE.com"), 2));
  CHECK(table.size() == 1);
  const int* v = table.find(N("www.example.com"));
  REQUIRE(v != nullptr);
  CHECK(*v == 1);
  // Without matched_labels: still works.
  CHECK(table.find(N("com")) == nullptr);
}

}  // namespace
}  // namespace vnetdns::policy
