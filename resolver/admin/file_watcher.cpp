#include "resolver/admin/file_watcher.hpp"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "resolver/util/log.hpp"

namespace vnetdns::admin {

namespace asio = boost::asio;

namespace {
constexpr std::uint32_t kDirEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                     IN_DELETE | IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF |
                                     IN_MOVE_SELF;
}  // namespace

FileWatcher::FileWatcher(asio::io_context& io, std::function<void()> on_change,
                         FileWatcherOptions options)
    : io_(io),
      on_change_(std::move(on_change)),
      options_(options),
      inotify_(io),
      debounce_(io),
      poll_(io) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd >= 0) {
    inotify_.assign(fd);
    read_events();
  } else {
    VLOG_WARN("inotify unavailable; zone and config files are polled every {} ms",
              options_.poll.count());
  }
  arm_poll();
}

FileWatcher::~FileWatcher() { stop(); }

void FileWatcher::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  debounce_.cancel();
  poll_.cancel();
  if (inotify_.is_open()) inotify_.close(ec);
}

FileWatcher::Fingerprint FileWatcher::fingerprint(const std::string& path) {
  struct stat st {};
  Fingerprint f;
  if (::stat(path.c_str(), &st) != 0) return f;  // follows symlinks: a swapped target changes it
  f.exists = true;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = st.st_size;
  f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return f;
}

void FileWatcher::watch(const std::vector<std::string>& files) {
  std::map<std::string, Fingerprint> next;
  std::set<std::string> dirs;
  for (const auto& f : files) {
    std::error_code ec;
    std::string abs = std::filesystem::absolute(f, ec).lexically_normal().string();
    if (ec) abs = f;
    auto old = files_.find(abs);
    next[abs] = old != files_.end() ? old->second : fingerprint(abs);
    dirs.insert(std::filesystem::path(abs).parent_path().string());
  }
  files_ = std::move(next);
  if (!inotify_.is_open()) return;
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (dirs.count(it->first) == 0) {
      ::inotify_rm_watch(inotify_.native_handle(), it->second);
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& d : dirs) {
    if (dirs_.count(d) != 0) continue;
    const int wd = ::inotify_add_watch(inotify_.native_handle(), d.c_str(), kDirEvents);
    if (wd < 0) {
      VLOG_WARN("cannot watch {} for changes ({}); polling it every {} ms", d, std::strerror(errno),
                options_.poll.count());
      continue;
    }
    dirs_[d] = wd;
  }
}

void FileWatcher::read_events() {
  inotify_.async_read_some(
      asio::buffer(events_), [this](const boost::system::error_code& ec, std::size_t) {
        if (ec || stopped_) return;
        // Which file changed does not matter: the check compares every watched file.
        debounce_.expires_after(options_.debounce);  // restarts the quiet period
        debounce_.async_wait([this](const boost::system::error_code& e) {
          if (e || stopped_) return;
          check();
        });
        read_events();
      });
}

void FileWatcher::arm_poll() {
  poll_.expires_after(options_.poll);
  poll_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    check();
    arm_poll();
  });
}

void FileWatcher::check() {
  bool changed = false;
  for (auto& [path, seen] : files_) {
    const Fingerprint now = fingerprint(path);
    if (!(now == seen)) {
      VLOG_INFO("{} changed on disk", path);
      seen = now;  // seen before the reload reads it: a later write is another change
      changed = true;
    }
  }
  if (changed && on_change_) on_change_();
}

}  // namespace vnetdns::admin
