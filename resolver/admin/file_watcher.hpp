// FileWatcher: calls back when one of a set of files (the config file and every zone file)
// changes on disk, so that zone edits apply without a signal. Two triggers feed one check:
// inotify on the files' directories (prompt: an edit shows within `debounce`, default
// 300 ms after the last event, so an editor's write-then-rename lands as one change) and a
// stat() poll every `poll` (default 2 s: the safety net for file systems or renames that
// inotify does not report, and the only trigger when inotify is unavailable). A check
// compares each file's (device, inode, size, mtime) with the last one seen, so events for
// other files in the same directory, or a touch-free rewrite of the same bytes with the same
// mtime, do nothing; a symlink swap (Kubernetes ConfigMap) counts as a change.
// The callback runs on the io_context's thread; the watcher never reads file contents.
// Thread safety: all methods from the io_context's thread (construct before run()).
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace vnetdns::admin {

struct FileWatcherOptions {
  std::chrono::milliseconds debounce{300};
  std::chrono::milliseconds poll{2000};
};

class FileWatcher {
 public:
  FileWatcher(boost::asio::io_context& io, std::function<void()> on_change,
              FileWatcherOptions options = {});
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Replaces the set of watched files. Files already watched keep their last-seen state (a
  // change that happened meanwhile is still reported); new ones are taken as they are now.
  void watch(const std::vector<std::string>& files);
  void stop();
  [[nodiscard]] bool uses_inotify() const noexcept { return inotify_.is_open(); }

 private:
  struct Fingerprint {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Fingerprint&) const = default;
  };
  static Fingerprint fingerprint(const std::string& path);
  void check();
  void arm_poll();
  void read_events();

  boost::asio::io_context& io_;
  std::function<void()> on_change_;
  FileWatcherOptions options_;
  boost::asio::posix::stream_descriptor inotify_;
  boost::asio::steady_timer debounce_;
  boost::asio::steady_timer poll_;
  std::map<std::string, Fingerprint> files_;  // absolute path -> last seen
  std::map<std::string, int> dirs_;           // directory -> inotify watch descriptor
  std::array<char, 4096> events_{};
  bool stopped_ = false;
};

}  // namespace vnetdns::admin
