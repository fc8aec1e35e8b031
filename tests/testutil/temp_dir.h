// A fresh directory per test, removed with everything in it at the end.
#pragma once

#include <string>

namespace jobwarden::testing {

class TempDir {
 public:
  TempDir();  // under $TMPDIR (default /tmp), named jobwarden-test-XXXXXX
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace jobwarden::testing
