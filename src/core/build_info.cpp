#include "shoppulse/core/build_info.hpp"

namespace shoppulse {

std::string version_text() {
  const BuildInfo& b = build_info();
  std::string out = "shoppulse " + std::string(b.version) + "\n";
  out += "commit: " + std::string(b.git_commit) + "\n";
  out += "build type: " + std::string(b.build_type) + "\n";
  out += "compiler: " + std::string(b.compiler) + "\n";
  for (const LibraryVersion& l : b.libraries) out += std::string(l.name) + ": " + std::string(l.version) + "\n";
  return out;
}

std::string build_info_labels() {
  const BuildInfo& b = build_info();
  // Label values here are versions and commit ids: no quotes or backslashes
  // to escape.
  std::string out = "version=\"" + std::string(b.version) + "\",git_commit=\"" + std::string(b.git_commit) +
                    "\",build_type=\"" + std::string(b.build_type) + "\"";
  for (const LibraryVersion& l : b.libraries)
    out += "," + std::string(l.name) + "=\"" + std::string(l.version) + "\"";
  return out;
}

}  // namespace shoppulse
