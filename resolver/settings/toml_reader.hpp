// TomlReader: the typed, validating getters the config loader reads a toml++ table with,
// and its messages: every problem becomes "FILE:LINE: message" (collected, reported in file
// order), every accepted deprecated spelling a warning. Absent keys leave their output
// untouched. Included by loader.cpp only (with it, the only code that includes toml++).
// Thread safety: one instance per load, one thread.
#pragma once

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "resolver/policy/prefix.hpp"
#include "resolver/settings/loader.hpp"
#include "resolver/settings/settings.hpp"
#include "resolver/settings/value_text.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::settings {

inline const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

class TomlReader {
 public:
  // `path`: the config file, for messages and for paths relative to its folder.
  explicit TomlReader(std::string path) : path_(std::move(path)) {
    std::error_code ec;
    auto parent = std::filesystem::path(path_).parent_path();
    auto abs = std::filesystem::absolute(parent.empty() ? std::filesystem::path(".") : parent, ec);
    dir_ = ec ? parent : abs;
  }

 protected:
  [[nodiscard]] bool has_errors() const noexcept { return !errors_.empty(); }
  // The errors in file order (toml++ tables iterate keys alphabetically).
  Errors take_errors() {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    Errors out;
    out.reserve(errors_.size());
    for (auto& e : errors_) out.push_back(std::move(e.second));
    errors_.clear();
    return out;
  }

  // ---- messages -------------------------------------------------------------------------
  std::string where(const toml::node& n) const { return where(n.source()); }
  std::string where(const toml::source_region& r) const {
    return path_ + ":" + std::to_string(r.begin.line);
  }
  void error(const toml::source_region& r, const std::string& msg) {
    errors_.emplace_back(r.begin.line, where(r) + ": " + msg);
  }
  void error(const toml::node& n, const std::string& msg) { error(n.source(), msg); }
  // A deprecated spelling, accepted: reported as a warning, not an error.
  void deprecated(const toml::node& n, const std::string& msg) {
    warnings_.push_back(where(n) + ": " + msg);
  }

  // Reports keys of `t` that are not in `known`, with a suggestion for near misses.
  void check_keys(const toml::table& t, const std::string& section,
                  std::initializer_list<std::string_view> known) {
    for (const auto& [key, node] : t) {
      const std::string_view k = key.str();
      if (std::find(known.begin(), known.end(), k) != known.end()) continue;
      std::string msg = "unknown key '" + std::string(k) + "' in " + section;
      std::string_view best;
      std::size_t best_d = 3;
      for (auto cand : known) {
        auto d = edit_distance(k, cand);
        if (d < best_d) best_d = d, best = cand;
      }
      if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
      error(key.source(), msg);
    }
  }

  bool expect(const toml::node& n, toml::node_type type, const std::string& name) {
    if (n.type() == type) return true;
    error(n, name + " must be " + type_name(type) + ", not " + type_name(n.type()));
    return false;
  }

  // ---- typed getters: absent keys leave `out` untouched ----------------------------------
  const toml::node* find(const toml::table& t, std::string_view key) { return t.get(key); }

  bool get_string(const toml::table& t, std::string_view key, const std::string& name,
                  std::string& out) {
    const auto* n = find(t, key);
    if (!n || !expect(*n, toml::node_type::string, name)) return false;
    out = n->as_string()->get();
    return true;
  }

  void get_bool(const toml::table& t, std::string_view key, const std::string& name, bool& out) {
    const auto* n = find(t, key);
    if (n && expect(*n, toml::node_type::boolean, name)) out = n->as_boolean()->get();
  }

  template <typename U>
  bool get_uint(const toml::table& t, std::string_view key, const std::string& name, U& out,
                std::int64_t min, std::int64_t max) {
    const auto* n = find(t, key);
    if (!n || !expect(*n, toml::node_type::integer, name)) return false;
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      error(*n, name + " = " + std::to_string(v) + " is out of range (" + std::to_string(min) +
                    ".." + std::to_string(max) + ")");
      return false;
    }
    out = static_cast<U>(v);
    return true;
  }

  // A duration: a string with units or an integer number of seconds.
  bool get_duration(const toml::table& t, std::string_view key, const std::string& name,
                    Millis& out, bool allow_zero = true) {
    const auto* n = find(t, key);
    if (!n) return false;
    Millis v{0};
    if (const auto* i = n->as_integer()) {
      if (i->get() < 0 || i->get() > (std::int64_t{1} << 40)) {
        error(*n, name + " = " + std::to_string(i->get()) + " is not a valid number of seconds");
        return false;
      }
      v = Millis(i->get() * 1000);
    } else if (const auto* s = n->as_string()) {
      if (!parse_duration_text(s->get(), v)) {
        error(*n,
              name + " = \"" + s->get() +
                  "\" is not a duration (write e.g. \"1800ms\", \"2s\", \"10m\", \"1h\", \"1d\")");
        return false;
      }
    } else {
      error(*n, name +
                    " must be a duration string like \"2s\" or an integer number of seconds, not " +
                    type_name(n->type()));
      return false;
    }
    if (!allow_zero && v.count() == 0) {
      error(*n, name + " must be greater than zero");
      return false;
    }
    out = v;
    return true;
  }

  // A list of port numbers (1..65535), kept sorted and without repeats.
  void get_ports(const toml::table& t, std::string_view key, const std::string& name,
                 std::vector<std::uint16_t>& out) {
    const auto* n = find(t, key);
    if (!n) return;
    const auto* arr = n->as_array();
    if (arr == nullptr) {
      error(*n, name + " must be an array of port numbers, not " + type_name(n->type()));
      return;
    }
    std::vector<std::uint16_t> ports;
    for (const auto& el : *arr) {
      const auto* i = el.as_integer();
      if (i == nullptr || i->get() < 1 || i->get() > 65535) {
        error(el, name + ": each entry must be a port number from 1 to 65535");
        return;
      }
      ports.push_back(static_cast<std::uint16_t>(i->get()));
    }
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    out = std::move(ports);
  }

  template <typename E>
  void get_enum(const toml::table& t, std::string_view key, const std::string& name, E& out,
                std::initializer_list<std::pair<std::string_view, E>> values) {
    const auto* n = find(t, key);
    if (!n || !expect(*n, toml::node_type::string, name)) return;
    const std::string& v = n->as_string()->get();
    std::string allowed;
    for (const auto& [text, e] : values) {
      if (v == text) {
        out = e;
        return;
      }
      allowed += (allowed.empty() ? "\"" : ", \"") + std::string(text) + "\"";
    }
    error(*n, name + " = \"" + v + "\" is not one of " + allowed);
  }

  std::optional<util::Endpoint> endpoint(const toml::node& n, const std::string& name,
                                         std::uint16_t default_port) {
    if (!expect(n, toml::node_type::string, name)) return std::nullopt;
    const std::string& v = n.as_string()->get();
    auto ep = util::Endpoint::parse(v, default_port);
    if (!ep) {
      error(n, name + ": \"" + v +
                   "\" is not an address (write \"ip\", \"ip:port\" or \"[ipv6]:port\")");
    }
    return ep;
  }

  // An array of endpoints; duplicates are errors. Returns false if the key is absent.
  bool get_endpoints(const toml::table& t, std::string_view key, const std::string& name,
                     std::vector<util::Endpoint>& out, std::uint16_t default_port) {
    const auto* n = find(t, key);
    if (!n || !expect(*n, toml::node_type::array, name)) return n != nullptr;
    out.clear();
    for (const auto& el : *n->as_array()) {
      auto ep = endpoint(el, name, default_port);
      if (!ep) continue;
      if (std::find(out.begin(), out.end(), *ep) != out.end()) {
        error(el, name + ": " + ep->to_string() + " is listed twice");
        continue;
      }
      out.push_back(*ep);
    }
    return true;
  }

  // An array of prefixes. Returns false if the key is absent.
  bool get_prefixes(const toml::table& t, std::string_view key, const std::string& name,
                    policy::PrefixList& out) {
    const auto* n = find(t, key);
    if (!n) return false;
    if (!expect(*n, toml::node_type::array, name)) return true;
    std::vector<policy::Prefix> list;
    for (const auto& el : *n->as_array()) {
      if (!expect(el, toml::node_type::string, name)) continue;
      const std::string& v = el.as_string()->get();
      auto p = policy::Prefix::parse(v);
      if (!p) {
        error(el, name + ": \"" + v +
                      "\" is not a prefix (write e.g. \"10.0.0.0/8\", \"fd00::/8\" or an address)");
        continue;
      }
      list.push_back(*p);
    }
    if (n->as_array()->empty()) {
      error(*n, name + " is empty: every client would be refused (list the networks to serve)");
    }
    out = policy::PrefixList(std::move(list));
    return true;
  }

  bool get_name(const toml::table& t, std::string_view key, const std::string& name,
                wire::Name& out) {
    const auto* n = find(t, key);
    if (!n || !expect(*n, toml::node_type::string, name)) return false;
    const std::string& v = n->as_string()->get();
    wire::NameError err = wire::NameError::kNone;
    wire::Name parsed = wire::Name::from_text(v, &err);
    if (!valid_domain_text(v) || err != wire::NameError::kNone) {
      error(*n, name + " = \"" + v + "\" is not a valid domain name");
      return false;
    }
    out = parsed;
    return true;
  }

  std::string resolve_path(const std::string& file) const {
    std::filesystem::path p(file);
    if (p.is_absolute()) return p.lexically_normal().string();
    return (dir_ / p).lexically_normal().string();
  }

  // ---- sections ----------------------------------------------------------------------------
  const toml::table* section(const toml::table& root, std::string_view key) {
    const auto* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      error(*n, "[" + std::string(key) + "] must be a table, not " + type_name(n->type()) +
                    (n->is_array()
                         ? " (write [" + std::string(key) + "], not [[" + std::string(key) + "]])"
                         : ""));
      return nullptr;
    }
    return n->as_table();
  }

  const toml::array* table_array(const toml::table& root, std::string_view key) {
    const auto* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_array_of_tables() || !n->is_array()) {
      error(*n,
            std::string(key) + " must be an array of tables: write [[" + std::string(key) + "]]");
      return nullptr;
    }
    return n->as_array();
  }

  std::string path_;
  std::filesystem::path dir_;
  std::vector<std::pair<toml::source_index, std::string>> errors_;  // (line, message)
  std::vector<std::string> warnings_;                               // deprecated spellings
};

}  // namespace vnetdns::settings
