// libFuzzer target: parse_message on arbitrary bytes (what an upstream may send), then for
// every RR: owner(), copy_rdata into a 64 KiB buffer, rdata_name for single-name types, and
// skip_name agreeing with read_name. Parsed replies are then re-encoded with MessageBuilder
// from the decompressed rdata and must parse back to the same records (the cache stores
// rebuilt wire, so this is the path a poisoned-looking reply takes into the cache).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/name.hpp"

#include "fuzz_check.hpp"

namespace wire = vnetdns::wire;

namespace {

constexpr std::size_t kRdataCap = 64 * 1024;

bool single_name_type(std::uint16_t t) {
  switch (t) {
    case wire::type::kNS:
    case wire::type::kCNAME:
    case wire::type::kPTR:
    case wire::type::kDNAME:
    case wire::type::kMB:
    case wire::type::kMD:
    case wire::type::kMF:
    case wire::type::kMG:
    case wire::type::kMR: return true;
    default: return false;
  }
}

struct Copied {
  std::size_t offset;  // into the rdata arena
  std::size_t len;
  bool ok;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Copy into an exactly sized heap buffer so ASan sees any read past the message.
  std::vector<std::uint8_t> msg(data, data + size);
  wire::MessageView v;
  const wire::MessageError e = wire::parse_message(msg.data(), msg.size(), v);
  if (e != wire::MessageError::kNone) return 0;
  FUZZ_CHECK(size >= wire::kHeaderSize);

  static std::array<std::uint8_t, kRdataCap> out;
  static std::vector<std::uint8_t> arena;
  static std::vector<Copied> copied;
  arena.clear();
  copied.clear();
  for (const wire::RrView& rr : v.rrs) {
    FUZZ_CHECK(rr.type != wire::type::kOPT);
    FUZZ_CHECK(static_cast<std::size_t>(rr.rdata_offset) + rr.rdlength <= size);
    wire::Name owner;
    FUZZ_CHECK(v.owner(rr, owner));  // documented invariant after kNone
    std::size_t end = 0;
    FUZZ_CHECK(wire::read_name(msg.data(), msg.size(), rr.name_offset, owner, &end) ==
               wire::NameError::kNone);
    FUZZ_CHECK(end + 10 == rr.rdata_offset);
    FUZZ_CHECK(wire::skip_name(msg.data(), msg.size(), rr.name_offset) == end);

    std::size_t n = 0;
    const bool ok = wire::copy_rdata(v, rr, out.data(), out.size(), &n);
    if (ok) FUZZ_CHECK(n <= out.size());
    copied.push_back({arena.size(), ok ? n : 0, ok});
    if (ok) arena.insert(arena.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));

    if (single_name_type(rr.type)) {
      wire::Name target;
      const bool named = wire::rdata_name(v, rr, target);
      // rdata_name and copy_rdata agree on single-name rdata.
      FUZZ_CHECK(named == ok);
      if (named) FUZZ_CHECK(n == target.size() && std::memcmp(out.data(), target.data(), n) == 0);
    }
  }

  // Re-encode: question, then every RR whose rdata decompressed, into a 64 KiB message.
  static std::array<std::uint8_t, wire::kMaxMessageSize> buf;
  wire::MessageBuilder b(buf.data(), buf.size());
  b.start(v.id, v.flags);
  FUZZ_CHECK(b.add_question(v.qname, v.qtype, v.qclass));
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < v.rrs.size(); ++i) {
    const wire::RrView& rr = v.rrs[i];
    if (!copied[i].ok || copied[i].len > 0xffff) continue;
    wire::Name owner;
    FUZZ_CHECK(v.owner(rr, owner));
    if (!b.add_rr(rr.section, owner, rr.type, rr.klass, rr.ttl, arena.data() + copied[i].offset,
                  copied[i].len)) {
      break;
    }
    kept.push_back(i);
  }
  FUZZ_CHECK(b.size() <= buf.size());

  wire::MessageView v2;
  FUZZ_CHECK(wire::parse_message(buf.data(), b.size(), v2) == wire::MessageError::kNone);
  FUZZ_CHECK(v2.id == v.id && v2.qname == v.qname && v2.qtype == v.qtype);
  FUZZ_CHECK(v2.rrs.size() == kept.size());
  for (std::size_t k = 0; k < kept.size(); ++k) {
    const wire::RrView& a = v.rrs[kept[k]];
    const wire::RrView& r = v2.rrs[k];
    wire::Name o1;
    wire::Name o2;
    FUZZ_CHECK(v.owner(a, o1) && v2.owner(r, o2));
    FUZZ_CHECK(o1 == o2);
    FUZZ_CHECK(a.section == r.section && a.type == r.type && a.klass == r.klass && a.ttl == r.ttl);
    // The rebuilt rdata is uncompressed already: copying it again gives the same bytes.
    std::size_t n = 0;
    FUZZ_CHECK(wire::copy_rdata(v2, r, out.data(), out.size(), &n));
    FUZZ_CHECK(n == copied[kept[k]].len);
    // An empty arena has no data(): memcmp must not see a null pointer even for n == 0.
    FUZZ_CHECK(n == 0 || std::memcmp(out.data(), arena.data() + copied[kept[k]].offset, n) == 0);
  }
  return 0;
}
