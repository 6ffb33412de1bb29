#include "resolver/zonetool/zone_text.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <set>

namespace vnetdns::zonetool {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_ttl(std::string_view t) {
  if (t.empty() || !std::isdigit(static_cast<unsigned char>(t[0]))) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) ||
           std::string_view("smhdwSMHDW").find(c) != std::string_view::npos;
  });
}

bool is_class(std::string_view t) {
  const std::string u = upper(t);
  if (u == "IN" || u == "CH" || u == "HS" || u == "CS") return true;
  return u.size() > 5 && u.rfind("CLASS", 0) == 0 &&
         std::all_of(u.begin() + 5, u.end(), [](char c) { return std::isdigit(c); });
}

bool ends_with_unescaped_dot(std::string_view t) {
  if (t.empty() || t.back() != '.') return false;
  std::size_t backslashes = 0;
  for (std::size_t i = t.size() - 1; i > 0 && t[i - 1] == '\\'; --i) ++backslashes;
  return backslashes % 2 == 0;
}

// `token` as a name at a line where `origin` is in effect.
std::optional<wire::Name> resolve(std::string_view token, const wire::Name& origin) {
  wire::NameError err = wire::NameError::kNone;
  wire::Name n;
  if (token == "@") return origin;
  if (ends_with_unescaped_dot(token)) {
    n = wire::Name::from_text(token, &err);
  } else {
    const std::string o = origin.to_text();
    n = wire::Name::from_text(std::string(token) + (o == "." ? "." : "." + o), &err);
  }
  if (err != wire::NameError::kNone) return std::nullopt;
  return n;
}

// Splits one line into tokens; adjusts `depth` for parentheses. Returns false (with `why`) on
// an unterminated quote.
bool tokenize(const std::string& line, std::size_t line_no, int& depth, std::vector<Token>& out,
              std::string& why) {
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (i < n) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == ';') {
      break;
    } else if (c == '(') {
      ++depth;
      ++i;
    } else if (c == ')') {
      --depth;
      ++i;
    } else {
      const std::size_t start = i;
      if (c == '"') {
        ++i;
        while (i < n && line[i] != '"') i += (line[i] == '\\' && i + 1 < n) ? 2 : 1;
        if (i >= n) {
          why = "unterminated quoted string";
          return false;
        }
        ++i;
      } else {
        while (i < n && std::string_view(" \t\r;()\"").find(line[i]) == std::string_view::npos) {
          i += (line[i] == '\\' && i + 1 < n) ? 2 : 1;
        }
      }
      out.push_back({line.substr(start, i - start), line_no, start});
    }
  }
  return true;
}

}  // namespace

std::string RecordEntry::rdata_text() const {
  std::string s;
  for (const auto& t : rdata) {
    if (!s.empty()) s += ' ';
    s += t.text;
  }
  return s;
}

std::uint32_t next_serial(std::uint32_t old_serial, std::uint32_t today_yyyymmdd) {
  if (old_serial >= 1990010100u && old_serial <= 2200123199u) {
    const std::uint32_t date = old_serial / 100;
    const std::uint32_t month = (date / 100) % 100;
    const std::uint32_t day = date % 100;
    if (month >= 1 && month <= 12 && day >= 1 && day <= 31 && date < today_yyyymmdd) {
      return today_yyyymmdd * 100;
    }
  }
  return old_serial + 1;  // wraps mod 2^32 (RFC 1982 serial arithmetic)
}

std::uint32_t today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return static_cast<std::uint32_t>((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
                                    tm.tm_mday);
}

util::Result<ZoneText, std::string> ZoneText::parse(const wire::Name& origin, std::string text) {
  ZoneText z;
  z.origin_ = origin;
  z.trailing_newline_ = text.empty() || text.back() == '\n';
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    z.lines_.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  auto r = z.reparse();
  if (!r.ok()) return util::Err(r.error());
  return z;
}

util::Result<bool, std::string> ZoneText::reparse() {
  records_.clear();
  wire::Name origin = origin_;
  std::optional<wire::Name> last_owner;
  int depth = 0;
  std::string why;
  for (std::size_t li = 0; li < lines_.size();) {
    const std::string& first = lines_[li];
    const auto fail = [&](const std::string& what) {
      return util::Err("line " + std::to_string(li + 1) + ": " + what);
    };
    std::vector<Token> tokens;
    std::size_t count = 0;
    do {
      if (li + count >= lines_.size()) return fail("unbalanced parentheses");
      if (!tokenize(lines_[li + count], li + count, depth, tokens, why)) return fail(why);
      if (depth < 0) return fail("')' without '('");
      ++count;
    } while (depth > 0);
    const std::size_t entry_line = li;
    li += count;
    if (tokens.empty()) continue;  // blank or comment-only
    const bool explicit_owner =
        !first.empty() && first[0] != ' ' && first[0] != '\t' && first[0] != '\r';
    std::size_t t = 0;
    if (explicit_owner && tokens[0].text[0] == '$') {
      const std::string d = upper(tokens[0].text);
      if (d == "$ORIGIN") {
        if (tokens.size() < 2) return fail("$ORIGIN without a name");
        auto o = resolve(tokens[1].text, origin);
        if (!o) return fail("bad $ORIGIN " + tokens[1].text);
        origin = *o;
      } else if (d == "$INCLUDE" || d == "$GENERATE") {
        return fail(d + " is not supported by the zone editor");
      }
      continue;  // $TTL and others: kept as text
    }
    RecordEntry e;
    e.first_line = entry_line;
    e.line_count = count;
    e.explicit_owner = explicit_owner;
    e.origin = origin;
    if (explicit_owner) {
      auto o = resolve(tokens[0].text, origin);
      if (!o) return fail("bad owner name " + tokens[0].text);
      e.owner = *o;
      last_owner = e.owner;
      t = 1;
    } else {
      if (!last_owner) return fail("a record without an owner and no previous owner");
      e.owner = *last_owner;
    }
    for (; t < tokens.size(); ++t) {
      if (e.ttl.empty() && is_ttl(tokens[t].text)) {
        e.ttl = tokens[t].text;
      } else if (is_class(tokens[t].text)) {
        e.klass = upper(tokens[t].text);
      } else {
        break;
      }
    }
    if (t >= tokens.size()) return fail("a record without a type");
    e.type = upper(tokens[t].text);
    e.rdata.assign(tokens.begin() + static_cast<std::ptrdiff_t>(t) + 1, tokens.end());
    records_.push_back(std::move(e));
  }
  return true;
}

std::string ZoneText::text() const {
  std::string s;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    s += lines_[i];
    if (i + 1 < lines_.size() || trailing_newline_) s += '\n';
  }
  return s;
}

std::vector<IpAddress> ZoneText::addresses(const wire::Name& owner) const {
  std::vector<IpAddress> out;
  for (const auto& e : records_) {
    if (e.owner != owner || (e.type != "A" && e.type != "AAAA") || e.rdata.size() != 1) continue;
    if (auto a = IpAddress::parse(e.rdata[0].text)) out.push_back(*a);
  }
  return out;
}

std::vector<std::string> ZoneText::other_types(const wire::Name& owner) const {
  std::vector<std::string> out;
  for (const auto& e : records_) {
    if (e.owner == owner && e.type != "A" && e.type != "AAAA" &&
        std::find(out.begin(), out.end(), e.type) == out.end()) {
      out.push_back(e.type);
    }
  }
  return out;
}

std::optional<std::uint32_t> ZoneText::serial() const {
  for (const auto& e : records_) {
    if (e.type != "SOA" || e.owner != origin_ || e.rdata.size() < 7) continue;
    const std::string& s = e.rdata[2].text;
    if (s.empty() || s.size() > 10 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    const unsigned long long v = std::stoull(s);
    if (v > 0xffffffffull) return std::nullopt;
    return static_cast<std::uint32_t>(v);
  }
  return std::nullopt;
}

util::Result<std::uint32_t, std::string> ZoneText::bump_serial(std::uint32_t today_yyyymmdd) {
  const auto old = serial();
  if (!old) return util::Err(std::string("no SOA with a numeric serial at the zone apex"));
  const RecordEntry* soa = nullptr;
  for (const auto& e : records_) {
    if (e.type == "SOA" && e.owner == origin_) soa = &e;
  }
  const Token& tok = soa->rdata[2];
  const std::uint32_t next = next_serial(*old, today_yyyymmdd);
  const std::string repl = std::to_string(next);
  std::string& line = lines_[tok.line];
  std::size_t after = tok.col + tok.text.size();
  std::string tail = line.substr(after);
  // Keep the columns of what follows (e.g. "; serial" comments) when there is room.
  if (repl.size() > tok.text.size()) {
    std::size_t extra = repl.size() - tok.text.size();
    std::size_t spaces = 0;
    while (spaces < tail.size() && tail[spaces] == ' ') ++spaces;
    if (spaces > extra && spaces < tail.size()) tail.erase(0, extra);
  } else if (repl.size() < tok.text.size() && !tail.empty() && tail[0] == ' ') {
    tail.insert(0, tok.text.size() - repl.size(), ' ');
  }
  line = line.substr(0, tok.col) + repl + tail;
  auto r = reparse();
  if (!r.ok()) return util::Err(r.error());
  return next;
}

std::string ZoneText::owner_text(const wire::Name& name, const wire::Name& origin) {
  if (name == origin) return "@";
  if (name.is_subdomain_of(origin)) {
    const std::string n = name.to_text();
    const std::string o = origin.to_text();
    if (o == ".") return n;
    return n.substr(0, n.size() - o.size() - 1);
  }
  return name.to_text();
}

std::size_t ZoneText::group_end(std::size_t i) const {
  std::size_t j = i + 1;
  while (j < records_.size() && !records_[j].explicit_owner) ++j;
  const RecordEntry& last = records_[j - 1];
  return last.first_line + last.line_count;
}

util::Result<bool, std::string> ZoneText::apply(const AddressChange& change) {
  bool changed = false;
  // 1. Delete the address lines that are not wanted.
  std::set<std::size_t> drop_lines;
  std::map<std::size_t, std::string> prefix;  // line -> owner text to write in front of it
  std::optional<std::string> pending;         // owner text a deleted line carried
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const RecordEntry& e = records_[i];
    const bool address = e.owner == change.owner && (e.type == "A" || e.type == "AAAA");
    bool drop = false;
    if (address) {
      auto a = e.rdata.size() == 1 ? IpAddress::parse(e.rdata[0].text) : std::nullopt;
      drop = !a || std::find(change.addresses.begin(), change.addresses.end(), *a) ==
                       change.addresses.end();
      if (a && a->rr_type_text() != e.type) {
        drop = true;  // an IPv6 address in an A record (or the reverse) is never kept
      }
    }
    if (drop) {
      for (std::size_t l = 0; l < e.line_count; ++l) drop_lines.insert(e.first_line + l);
      if (e.explicit_owner) pending = owner_text(e.owner, e.origin);
      changed = true;
    } else {
      if (!e.explicit_owner && pending) prefix[e.first_line] = *pending;
      pending.reset();
    }
  }
  if (!drop_lines.empty()) {
    std::vector<std::string> kept;
    for (std::size_t l = 0; l < lines_.size(); ++l) {
      if (drop_lines.count(l)) continue;
      auto p = prefix.find(l);
      kept.push_back(p == prefix.end() ? lines_[l] : p->second + lines_[l]);
    }
    lines_ = std::move(kept);
    auto r = reparse();
    if (!r.ok()) return util::Err(r.error());
  }
  // 2. Insert the wanted addresses that are missing.
  for (const auto& a : change.addresses) {
    const auto have = addresses(change.owner);
    if (std::find(have.begin(), have.end(), a) != have.end()) continue;
    insert_line(change, a);
    changed = true;
    auto r = reparse();
    if (!r.ok()) return util::Err(r.error());
  }
  return changed;
}

void ZoneText::insert_line(const AddressChange& change, const IpAddress& address) {
  // Anchor: the last record of the same owner; else of the same first label (the registry
  // of a data endpoint); else the last address record; else the last record.
  const auto first_label = [](const wire::Name& n, const wire::Name& origin) {
    const std::string t = owner_text(n, origin);
    return t.substr(0, t.find('.'));
  };
  std::optional<std::size_t> same_owner, same_family, last_address;
  const std::string fam = first_label(change.owner, origin_);
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const RecordEntry& e = records_[i];
    if (e.owner == change.owner) same_owner = i;
    if (e.owner != origin_ && first_label(e.owner, origin_) == fam) same_family = i;
    if (e.type == "A" || e.type == "AAAA") last_address = i;
  }
  const std::size_t anchor_index = same_owner     ? *same_owner
                                   : same_family  ? *same_family
                                   : last_address ? *last_address
                                                  : records_.size() - 1;
  const RecordEntry& anchor = records_[anchor_index];
  const std::size_t at = group_end(anchor_index);

  std::string ttl = change.ttl;
  if (ttl.empty()) {
    for (const auto& e : records_) {
      if (e.owner == change.owner && (e.type == "A" || e.type == "AAAA") && !e.ttl.empty()) {
        ttl = e.ttl;
      }
    }
  }
  const bool anchor_is_address = anchor.type == "A" || anchor.type == "AAAA";
  if (ttl.empty() && anchor_is_address) ttl = anchor.ttl;

  // Columns of the anchor's fields, so the new line lines up with its neighbour.
  std::vector<std::size_t> cols;
  bool anchor_has_class = true;
  if (anchor_is_address && anchor.explicit_owner && anchor.line_count == 1) {
    std::vector<Token> toks;
    int depth = 0;
    std::string why;
    tokenize(lines_[anchor.first_line], anchor.first_line, depth, toks, why);
    anchor_has_class =
        std::any_of(toks.begin() + 1, toks.end(), [](const Token& t) { return is_class(t.text); });
    for (std::size_t k = 1; k < toks.size(); ++k) cols.push_back(toks[k].col);
  }
  std::vector<std::string> fields;
  if (!ttl.empty()) fields.push_back(ttl);
  if (anchor_has_class) fields.push_back("IN");
  fields.push_back(address.rr_type_text());
  fields.push_back(address.to_string());
  const wire::Name& origin = anchor.origin;
  std::string line = owner_text(change.owner, origin);
  const bool same_shape = cols.size() == fields.size();
  for (std::size_t k = 0; k < fields.size(); ++k) {
    std::size_t want = line.size() + 1;
    if (same_shape && cols[k] > line.size()) want = cols[k];
    // a right-aligned TTL column: end where the anchor's TTL ends
    if (same_shape && k == 0 && !ttl.empty() && cols.size() > 1 && cols[1] > fields[0].size() + 1 &&
        cols[1] - 1 - fields[0].size() > line.size()) {
      want = cols[1] - 1 - fields[0].size();
    }
    line.append(want - line.size(), ' ');
    line += fields[k];
  }
  if (at >= lines_.size() && !trailing_newline_) trailing_newline_ = true;
  lines_.insert(lines_.begin() + static_cast<std::ptrdiff_t>(at), line);
}

}  // namespace vnetdns::zonetool
