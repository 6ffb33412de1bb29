#include "resolver/xfr/zone_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "resolver/zone/ldns_record.hpp"

namespace vnetdns::xfr {
namespace {

bool write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t n = text.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

std::string write_zone_file(const std::string& path, const wire::Name& origin,
                            const std::vector<zone::ZoneRecord>& records,
                            const std::string& comment) {
  std::string text =
      "; " + comment + "\n; written by vnetdns; edits are lost at the next transfer\n";
  text += "$ORIGIN " + origin.to_text() + "\n";
  for (const auto& r : records) {
    std::string line = zone::record_to_text(r);
    if (line.empty()) return "cannot print a record of " + r.owner.to_text();
    text += line;
    text += '\n';
  }
  const std::filesystem::path final_path(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  const bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return "cannot write " + tmp + ": " + std::strerror(saved);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return "cannot rename " + tmp + " to " + path + ": " + std::strerror(e);
  }
  // The rename itself must survive a crash: sync the folder.
  const std::string dir = final_path.has_parent_path() ? final_path.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace vnetdns::xfr
