#include "resolver/zonetool/zone_edit.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

#include "resolver/wire/types.hpp"
#include "resolver/zone/zone.hpp"
#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::zonetool {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

std::multiset<Bytes> rdata_set(const zone::Zone& z, const zone::RRset& set) {
  std::multiset<Bytes> out;
  for (std::size_t i = 0; i < set.rdata_count; ++i) {
    auto v = z.rdata(set, i);
    out.emplace(v.data, v.data + v.size);
  }
  return out;
}

bool is_address_type(std::uint16_t t) { return t == wire::type::kA || t == wire::type::kAAAA; }

// Step 4's comparison: every RRset of every owner is unchanged, except the SOA serial and the
// address RRsets of the changed owners, which must hold exactly the wanted addresses.
util::Result<bool, std::string> verify(const zone::Zone& before, const zone::Zone& after,
                                       const std::set<wire::Name>& owners,
                                       const std::vector<AddressChange>& changes,
                                       std::uint32_t new_serial) {
  const auto fail = [](const std::string& why) {
    return util::Err("internal check failed, nothing written: " + why);
  };
  std::set<wire::Name> changed;
  for (const auto& c : changes) changed.insert(c.owner);
  for (const auto& owner : owners) {
    const zone::Node* a = before.find(owner);
    const zone::Node* b = after.find(owner);
    const auto count = [&](const zone::Zone& z, const zone::Node* n) {
      std::size_t k = 0;
      if (n) {
        for (const auto& s : z.rrsets(*n)) k += !(changed.count(owner) && is_address_type(s.type));
      }
      return k;
    };
    if (count(before, a) != count(after, b)) return fail(owner.to_text() + " changed shape");
    if (!a) continue;
    for (const auto& s : before.rrsets(*a)) {
      if (changed.count(owner) && is_address_type(s.type)) continue;
      const zone::RRset* t = b ? after.find_rrset(*b, s.type) : nullptr;
      if (!t) return fail(owner.to_text() + " lost a record type");
      if (s.type == wire::type::kSOA) {
        auto x = before.rdata(s, 0);
        auto y = after.rdata(*t, 0);
        if (x.size != y.size || x.size < 20 || std::memcmp(x.data, y.data, x.size - 20) != 0 ||
            std::memcmp(x.data + x.size - 16, y.data + y.size - 16, 16) != 0 ||
            after.serial() != new_serial) {
          return fail("the SOA changed beyond its serial");
        }
        continue;
      }
      if (t->ttl != s.ttl || rdata_set(before, s) != rdata_set(after, *t)) {
        return fail(owner.to_text() + " changed records it should not have");
      }
    }
  }
  for (const auto& c : changes) {
    std::set<IpAddress> want(c.addresses.begin(), c.addresses.end());
    std::set<IpAddress> got;
    if (const zone::Node* n = after.find(c.owner)) {
      for (const auto& s : after.rrsets(*n)) {
        if (!is_address_type(s.type)) continue;
        for (std::size_t i = 0; i < s.rdata_count; ++i) {
          auto v = after.rdata(s, i);
          if (auto ip = IpAddress::from_rdata(v.data, v.size)) got.insert(*ip);
        }
      }
    }
    if (got != want) return fail(c.owner.to_text() + " does not hold the wanted addresses");
  }
  return true;
}

class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      error_ = sys_error("cannot open lock file " + path);
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        error_ = sys_error("cannot lock " + path);
        return;
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

util::Result<bool, std::string> write_atomically(const std::string& path, const std::string& text) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return util::Err(sys_error(path));
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmp = dir + "/." + base + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return util::Err(sys_error("cannot create a temporary file in " + dir));
  const auto fail = [&](const std::string& what) {
    const std::string e = sys_error(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    return util::Err(e);
  };
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write " + tmp);
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, st.st_mode & 07777) != 0) return fail("cannot set the mode of " + tmp);
  if (::fchown(fd, st.st_uid, st.st_gid) != 0) {
    // not allowed (not root): the file then belongs to whoever edits it, as with any editor
  }
  if (::fsync(fd) != 0) return fail("cannot fsync " + tmp);
  if (::close(fd) != 0) {
    const std::string e = sys_error("cannot close " + tmp);
    ::unlink(tmp.c_str());
    return util::Err(e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = sys_error("cannot rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return util::Err(e);
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return util::Err(sys_error("cannot fsync " + dir));
  }
  return true;
}

}  // namespace

util::Result<std::string, std::string> read_text_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return util::Err(sys_error(path));
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string e = sys_error(path);
      ::close(fd);
      return util::Err(e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

util::Result<EditResult, std::string> edit_zone_text(const wire::Name& origin,
                                                     const std::string& text,
                                                     const std::vector<AddressChange>& changes,
                                                     const EditOptions& options,
                                                     std::string_view display_name) {
  return edit_zone_text_with(
      origin, text, [&](const ZoneText&) { return changes; }, options, display_name);
}

util::Result<EditResult, std::string> edit_zone_text_with(const wire::Name& origin,
                                                          const std::string& text,
                                                          const EditPlanner& plan,
                                                          const EditOptions& options,
                                                          std::string_view display_name) {
  const std::string where(display_name);
  auto before = zone::load_zone_from_text(origin, text, {}, display_name);
  if (!before.ok()) return util::Err("the zone is invalid before the edit: " + before.error());
  auto parsed = ZoneText::parse(origin, text);
  if (!parsed.ok()) return util::Err(where + ": " + parsed.error());
  ZoneText zt = std::move(parsed.value());
  const std::vector<AddressChange> changes = plan(zt);

  EditResult out;
  out.old_serial = before.value()->serial();
  std::set<wire::Name> owners;
  for (const auto& e : zt.records()) owners.insert(e.owner);
  for (const auto& c : changes) {
    if (!c.owner.is_subdomain_of(origin)) {
      return util::Err(c.owner.to_text() + " is not in the zone " + origin.to_text());
    }
    const auto others = zt.other_types(c.owner);
    if (!c.addresses.empty() && std::find(others.begin(), others.end(), "CNAME") != others.end()) {
      return util::Err(c.owner.to_text() +
                       " has a CNAME: no other record may sit beside it (RFC 1034 section "
                       "3.6.2); remove the CNAME first");
    }
    if (c.owner == origin) {
      return util::Err("refusing to edit address records at the zone apex " + origin.to_text());
    }
    const auto old_addresses = zt.addresses(c.owner);
    auto r = zt.apply(c);
    if (!r.ok()) return util::Err(where + ": " + r.error());
    if (!r.value()) continue;
    out.changed = true;
    for (const auto& a : old_addresses) {
      if (std::find(c.addresses.begin(), c.addresses.end(), a) == c.addresses.end()) {
        out.diff.push_back("-" + c.owner.to_text() + " " + a.rr_type_text() + " " + a.to_string());
      }
    }
    for (const auto& a : c.addresses) {
      if (std::find(old_addresses.begin(), old_addresses.end(), a) == old_addresses.end()) {
        out.diff.push_back("+" + c.owner.to_text() + " " + a.rr_type_text() + " " + a.to_string());
      }
    }
    owners.insert(c.owner);
  }
  if (!out.changed) {
    out.new_serial = out.old_serial;
    out.text = text;
    return out;
  }
  auto serial = zt.bump_serial(options.today ? options.today : today_utc());
  if (!serial.ok()) return util::Err(where + ": " + serial.error());
  out.new_serial = serial.value();
  out.text = zt.text();
  auto after = zone::load_zone_from_text(origin, out.text, {}, display_name);
  if (!after.ok()) return util::Err("refused: the edited zone would be invalid: " + after.error());
  auto v = verify(*before.value(), *after.value(), owners, changes, out.new_serial);
  if (!v.ok()) return util::Err(v.error());
  return out;
}

util::Result<EditResult, std::string> edit_zone_file(const std::string& path,
                                                     const wire::Name& origin,
                                                     const std::vector<AddressChange>& changes,
                                                     const EditOptions& options) {
  return edit_zone_file_with(
      path, origin, [&](const ZoneText&) { return changes; }, options);
}

util::Result<EditResult, std::string> edit_zone_file_with(const std::string& path,
                                                          const wire::Name& origin,
                                                          const EditPlanner& plan,
                                                          const EditOptions& options) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return util::Err(sys_error(path));
  const std::string real = resolved;
  FileLock lock(real + ".lock");
  if (!lock.error().empty()) return util::Err(lock.error());
  auto text = read_text_file(real);
  if (!text.ok()) return util::Err(text.error());
  auto r = edit_zone_text_with(origin, text.value(), plan, options, path);
  if (!r.ok() || !r.value().changed || options.dry_run) return r;
  auto w = write_atomically(real, r.value().text);
  if (!w.ok()) return util::Err(w.error());
  return r;
}

}  // namespace vnetdns::zonetool
