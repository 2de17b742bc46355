#!/bin/sh
# Install the prebuilt dbx binary (and its eventdbx alias) from the project's releases.
#
#   curl -fsSL https://github.com/eventdbx/dbx/releases/latest/download/install.sh | sh
#   sh install.sh [--version v0.2.0] [--dir ~/.local/bin]
#
# Environment (the flags win):
#   DBX_VERSION       release to install (default: latest)
#   DBX_INSTALL_DIR   where dbx goes (default: $HOME/.local/bin)
#   DBX_DOWNLOAD_URL  base of the release downloads
#                     (default: https://github.com/eventdbx/dbx/releases)
#
# It detects the platform, downloads dbx-<target>.tar.gz and the release's SHA256SUMS,
# checks the archive's SHA-256, installs dbx (replacing an older one in one step), links
# eventdbx to it, and says how to put the directory on PATH. Nothing is installed when any
# step fails.
set -eu

version="${DBX_VERSION:-latest}"
install_dir="${DBX_INSTALL_DIR:-${HOME:-}/.local/bin}"
base_url="${DBX_DOWNLOAD_URL:-https://github.com/eventdbx/dbx/releases}"

say() { printf '%s\n' "$*"; }
fail() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || fail "--version needs a value"; version="$2"; shift 2 ;;
    --version=*) version="${1#*=}"; shift ;;
    --dir) [ $# -ge 2 ] || fail "--dir needs a value"; install_dir="$2"; shift 2 ;;
    --dir=*) install_dir="${1#*=}"; shift ;;
    -h | --help)
      say "usage: install.sh [--version <vX.Y.Z|latest>] [--dir <directory>]"
      exit 0
      ;;
    *) fail "unknown argument: $1 (see --help)" ;;
  esac
done

[ -n "$install_dir" ] || fail "no install directory: set HOME, DBX_INSTALL_DIR or --dir"

# The platform, as the release names its archives.
os="$(uname -s 2>/dev/null || echo unknown)"
arch="$(uname -m 2>/dev/null || echo unknown)"
case "$os" in
  Linux) os_part="unknown-linux-gnu" ;;
  Darwin) os_part="apple-darwin" ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT)
    fail "on Windows use install.ps1 (PowerShell): irm <url>/install.ps1 | iex" ;;
  *) fail "unsupported platform: $os/$arch (releases exist for Linux and macOS on x86_64 and arm64, and Windows on x86_64)" ;;
esac
case "$arch" in
  x86_64 | amd64) arch_part="x86_64" ;;
  aarch64 | arm64) arch_part="aarch64" ;;
  *) fail "unsupported platform: $os/$arch (releases exist for Linux and macOS on x86_64 and arm64, and Windows on x86_64)" ;;
esac
target="${arch_part}-${os_part}"
asset="dbx-${target}.tar.gz"

case "$version" in
  latest) url_base="${base_url%/}/latest/download" ;;
  v*) url_base="${base_url%/}/download/${version}" ;;
  [0-9]*) version="v${version}"; url_base="${base_url%/}/download/${version}" ;;
  *) fail "not a version: $version (e.g. v0.2.0, or latest)" ;;
esac

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "neither curl nor wget is installed"
fi

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  fail "neither sha256sum nor shasum is installed: cannot check the download"
fi

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t dbx-install)"
trap 'rm -rf "$tmp"' EXIT INT TERM

say "downloading dbx ${version} for ${target}"
fetch "${url_base}/${asset}" "$tmp/$asset" || fail "cannot download ${url_base}/${asset}"
fetch "${url_base}/SHA256SUMS" "$tmp/SHA256SUMS" || fail "cannot download ${url_base}/SHA256SUMS"

expected="$(awk -v name="$asset" '{ f = $2; sub(/^\*/, "", f); if (f == name) { print $1; exit } }' "$tmp/SHA256SUMS")"
[ -n "$expected" ] || fail "SHA256SUMS has no checksum for $asset"
actual="$(sha256 "$tmp/$asset")"
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for $asset: got $actual, published $expected (nothing was installed)"

mkdir -p "$tmp/unpacked"
tar -xzf "$tmp/$asset" -C "$tmp/unpacked" || fail "cannot unpack $asset"
[ -f "$tmp/unpacked/dbx" ] || fail "$asset holds no dbx binary"

mkdir -p "$install_dir" || fail "cannot create $install_dir"
# Copy beside the target, then rename: the path always names a whole binary.
cp "$tmp/unpacked/dbx" "$install_dir/.dbx.install.$$"
chmod 755 "$install_dir/.dbx.install.$$"
mv -f "$install_dir/.dbx.install.$$" "$install_dir/dbx"
ln -sf dbx "$install_dir/eventdbx"

installed="$("$install_dir/dbx" --version 2>/dev/null || true)"
say "installed ${installed:-dbx} to $install_dir/dbx (alias: $install_dir/eventdbx)"

case ":${PATH:-}:" in
  *":$install_dir:"*) ;;
  *)
    say ""
    say "$install_dir is not on your PATH. Add it, e.g. in ~/.profile or your shell's rc file:"
    say "  export PATH=\"$install_dir:\$PATH\""
    ;;
esac
