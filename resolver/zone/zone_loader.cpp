#include "resolver/zone/zone_loader.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include <ldns/ldns.h>

#include "resolver/zone/ldns_record.hpp"

namespace vnetdns::zone {
namespace {

constexpr std::size_t kMaxFileSize = 512u << 20;  // far above any sane zone

util::Err<std::string> fail(std::string message) { return {std::move(message)}; }

std::string located(std::string_view file, std::size_t line, std::string_view what) {
  std::string s(file);
  s += ':';
  s += std::to_string(line);
  s += ": ";
  s += what;
  return s;
}

// Where each line starts, to name the first line of an entry: ldns counts the newlines it
// consumed, which include comment and blank lines around the entry.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) : text_(text) {
    starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n' && i + 1 < text.size()) starts_.push_back(i + 1);
    }
  }
  // First line in (before, after] holding something other than blanks and a comment.
  [[nodiscard]] std::size_t entry_line(int before, int after) const {
    const std::size_t first = static_cast<std::size_t>(before < 0 ? 0 : before) + 1;
    const std::size_t last =
        std::min(static_cast<std::size_t>(after < 0 ? 0 : after), starts_.size());
    for (std::size_t line = first; line <= last; ++line) {
      if (!blank(line)) return line;
    }
    return std::min(first, starts_.size());
  }

 private:
  [[nodiscard]] bool blank(std::size_t line) const {
    for (std::size_t i = starts_[line - 1]; i < text_.size() && text_[i] != '\n'; ++i) {
      const char c = text_[i];
      if (c == ';') return true;
      if (c != ' ' && c != '\t' && c != '\r') return false;
    }
    return true;
  }
  std::string_view text_;
  std::vector<std::size_t> starts_;
};

// Owns what ldns hands back through its in/out parameters.
struct LdnsState {
  ldns_rdf* origin = nullptr;
  ldns_rdf* prev = nullptr;
  FILE* fp = nullptr;
  LdnsState() = default;
  LdnsState(const LdnsState&) = delete;
  LdnsState& operator=(const LdnsState&) = delete;
  ~LdnsState() {
    if (origin != nullptr) ldns_rdf_deep_free(origin);
    if (prev != nullptr) ldns_rdf_deep_free(prev);
    if (fp != nullptr) std::fclose(fp);
  }
};

}  // namespace

LoadResult load_zone_from_text(const wire::Name& origin, std::string_view text,
                               const ZoneOptions& options, std::string_view display_name) {
  // ldns counts lines by the newlines it reads: end the last line so it counts too.
  std::string buffer(text);
  if (buffer.empty() || buffer.back() != '\n') buffer.push_back('\n');
  const LineIndex lines(buffer);

  LdnsState st;
  st.origin = ldns_dname_new_frm_str(origin.to_text().c_str());
  if (st.origin == nullptr) return fail(located(display_name, 1, "bad zone origin"));
  st.prev = ldns_rdf_clone(st.origin);
  st.fp = fmemopen(buffer.data(), buffer.size(), "r");
  if (st.prev == nullptr || st.fp == nullptr) {
    return fail(located(display_name, 1, "out of memory"));
  }

  std::vector<ZoneRecord> records;
  std::vector<std::size_t> record_lines;
  std::uint32_t default_ttl = options.default_ttl;
  int line = 0;
  while (std::feof(st.fp) == 0) {
    const int before = line;
    ldns_rr* rr = nullptr;
    const ldns_status s =
        ldns_rr_new_frm_fp_l(&rr, st.fp, &default_ttl, &st.origin, &st.prev, &line);
    const std::size_t at = lines.entry_line(before, line);
    switch (s) {
      case LDNS_STATUS_OK: {
        ZoneRecord record;
        std::string why;
        const bool ok = record_from_ldns(rr, record, why);
        ldns_rr_free(rr);
        if (!ok) return fail(located(display_name, at, why));
        if (records.size() == options.max_records) {
          return fail(
              located(display_name, at,
                      "more than " + std::to_string(options.max_records) + " records in the zone"));
        }
        records.push_back(std::move(record));
        record_lines.push_back(at);
        break;
      }
      case LDNS_STATUS_SYNTAX_EMPTY:
      case LDNS_STATUS_SYNTAX_TTL:
      case LDNS_STATUS_SYNTAX_ORIGIN: break;
      case LDNS_STATUS_SYNTAX_INCLUDE:
        return fail(located(display_name, at, "$INCLUDE is not supported"));
      default:
        if (rr != nullptr) ldns_rr_free(rr);
        return fail(located(display_name, at, ldns_get_errorstr_by_id(s)));
    }
  }

  auto built = Zone::build(origin, std::move(records), options);
  if (!built.ok()) {
    const ZoneError& e = built.error();
    const std::size_t at = e.record < record_lines.size() ? record_lines[e.record] : 1;
    return fail(located(display_name, at, e.message));
  }
  return std::move(built).value();
}

LoadResult load_zone(const wire::Name& origin, const std::string& path,
                     const ZoneOptions& options) {
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (fp == nullptr) {
    return fail(located(path, 1, std::string("cannot open zone file: ") + std::strerror(errno)));
  }
  std::string text;
  char chunk[65536];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof(chunk), fp)) > 0) {
    text.append(chunk, n);
    if (text.size() > kMaxFileSize) break;
  }
  const int read_errno = std::ferror(fp) != 0 ? errno : 0;
  std::fclose(fp);
  if (read_errno != 0) {
    return fail(
        located(path, 1, std::string("cannot read zone file: ") + std::strerror(read_errno)));
  }
  if (text.size() > kMaxFileSize) return fail(located(path, 1, "zone file too large"));
  return load_zone_from_text(origin, text, options, path);
}

}  // namespace vnetdns::zone
