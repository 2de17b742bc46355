# Install the prebuilt dbx binary (and its eventdbx alias) from the project's releases, on
# Windows. The equivalent of install.sh:
#
#   irm https://github.com/eventdbx/dbx/releases/latest/download/install.ps1 | iex
#   .\install.ps1 [-Version v0.2.0] [-InstallDir "$env:LOCALAPPDATA\dbx\bin"] [-AddToPath]
#
# Environment (the parameters win):
#   DBX_VERSION       release to install (default: latest)
#   DBX_INSTALL_DIR   where dbx.exe goes (default: %LOCALAPPDATA%\dbx\bin)
#   DBX_DOWNLOAD_URL  base of the release downloads
#                     (default: https://github.com/eventdbx/dbx/releases)
#
# It detects the platform, downloads dbx-<target>.zip and the release's SHA256SUMS, checks the
# archive's SHA-256, installs dbx.exe (replacing an older one), copies it as eventdbx.exe,
# and says how to put the directory on PATH (or does it with -AddToPath). Nothing is
# installed when any step fails.
[CmdletBinding()]
param(
    [string]$Version = $(if ($env:DBX_VERSION) { $env:DBX_VERSION } else { 'latest' }),
    [string]$InstallDir = $(if ($env:DBX_INSTALL_DIR) { $env:DBX_INSTALL_DIR } else { Join-Path $env:LOCALAPPDATA 'dbx\bin' }),
    [string]$BaseUrl = $(if ($env:DBX_DOWNLOAD_URL) { $env:DBX_DOWNLOAD_URL } else { 'https://github.com/eventdbx/dbx/releases' }),
    [switch]$AddToPath
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# A terminating error, not `exit`: run as `irm … | iex`, exit would close the user's shell.
# Run as a file (pwsh -File install.ps1), an uncaught error exits with status 1.
function Stop-Install([string]$Message) {
    throw "install.ps1: error: $Message"
}

# The platform, as the release names its archives.
$arch = [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString()
$isWin = [System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform(
    [System.Runtime.InteropServices.OSPlatform]::Windows)
if (-not $isWin) {
    Stop-Install "install.ps1 is for Windows; on Linux and macOS use install.sh"
}
switch ($arch) {
    'X64' { $target = 'x86_64-pc-windows-msvc' }
    default {
        Stop-Install "unsupported platform: Windows/$arch (releases exist for Windows on x86_64, and Linux and macOS on x86_64 and arm64)"
    }
}
$asset = "dbx-$target.zip"

$base = $BaseUrl.TrimEnd('/')
if ($Version -eq 'latest') {
    $urlBase = "$base/latest/download"
} elseif ($Version -match '^v?\d+\.\d+\.\d+') {
    if (-not $Version.StartsWith('v')) { $Version = "v$Version" }
    $urlBase = "$base/download/$Version"
} else {
    Stop-Install "not a version: $Version (e.g. v0.2.0, or latest)"
}

$tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("dbx-install-" + [System.Guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $tmp | Out-Null
try {
    Write-Output "downloading dbx $Version for $target"
    $archive = Join-Path $tmp $asset
    $sums = Join-Path $tmp 'SHA256SUMS'
    try {
        Invoke-WebRequest -UseBasicParsing -Uri "$urlBase/$asset" -OutFile $archive
        Invoke-WebRequest -UseBasicParsing -Uri "$urlBase/SHA256SUMS" -OutFile $sums
    } catch {
        Stop-Install "cannot download from ${urlBase}: $($_.Exception.Message)"
    }

    $expected = $null
    foreach ($line in Get-Content -Path $sums) {
        $parts = $line.Trim() -split '\s+', 2
        if ($parts.Count -eq 2 -and $parts[1].TrimStart('*') -eq $asset) {
            $expected = $parts[0].ToLowerInvariant()
            break
        }
    }
    if (-not $expected) { Stop-Install "SHA256SUMS has no checksum for $asset" }
    $actual = (Get-FileHash -Algorithm SHA256 -Path $archive).Hash.ToLowerInvariant()
    if ($actual -ne $expected) {
        Stop-Install "checksum mismatch for ${asset}: got $actual, published $expected (nothing was installed)"
    }

    $unpacked = Join-Path $tmp 'unpacked'
    Expand-Archive -Path $archive -DestinationPath $unpacked -Force
    $exe = Join-Path $unpacked 'dbx.exe'
    if (-not (Test-Path -PathType Leaf $exe)) { Stop-Install "$asset holds no dbx.exe" }

    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    $dest = Join-Path $InstallDir 'dbx.exe'
    $staged = Join-Path $InstallDir ".dbx.install.$PID.exe"
    Copy-Item -Path $exe -Destination $staged -Force
    # A running dbx.exe cannot be overwritten but can be renamed away.
    if (Test-Path $dest) {
        $old = "$dest.old"
        Remove-Item -Force -ErrorAction SilentlyContinue $old
        Move-Item -Force -Path $dest -Destination $old
    }
    Move-Item -Force -Path $staged -Destination $dest
    Copy-Item -Force -Path $dest -Destination (Join-Path $InstallDir 'eventdbx.exe')

    $installed = & $dest --version
    Write-Output "installed $installed to $dest (alias: eventdbx.exe)"

    $userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
    $onPath = ($userPath -split ';') -contains $InstallDir
    if (-not $onPath) {
        if ($AddToPath) {
            [Environment]::SetEnvironmentVariable('Path', "$userPath;$InstallDir", 'User')
            Write-Output "added $InstallDir to your user PATH (open a new terminal to use it)"
        } else {
            Write-Output ""
            Write-Output "$InstallDir is not on your PATH. Add it with -AddToPath, or run:"
            Write-Output "  [Environment]::SetEnvironmentVariable('Path', `"`$env:Path;$InstallDir`", 'User')"
        }
    }
} finally {
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $tmp
}
