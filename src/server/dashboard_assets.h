// The dashboard's static files (web/), built into the binary at build time
// by cmake/embed_files.cmake: the server needs no files on disk and no
// network to serve them (docs/dashboard.md).
#pragma once

#include <span>
#include <string_view>

namespace jobwarden::server {

struct DashboardAsset {
  std::string_view path;  // relative to web/: "index.html", "app.js"
  std::string_view body;
};

// Every file of web/, in no particular order.
std::span<const DashboardAsset> DashboardAssets();

}  // namespace jobwarden::server
