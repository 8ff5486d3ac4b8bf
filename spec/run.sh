#!/bin/sh
# Runs every busted spec with the given lakehost binary; the last line of the
# output is "N passed, N failed" (after "N skipped" when specs were skipped).
#   spec/run.sh [BINARY] [extra busted options...]
set -u
bin=${1:-./lakehost}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2

# Integration specs need these on the machine; say which is missing up front.
missing=""
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
python3 -c "import pip" >/dev/null 2>&1 || missing="$missing pip(apt-get install python3-pip)"
command -v moto_server >/dev/null 2>&1 || missing="$missing moto_server(pip install 'moto[server]')"
command -v cfn-lint >/dev/null 2>&1 || missing="$missing cfn-lint(pip install cfn-lint)"
command -v unzip >/dev/null 2>&1 || missing="$missing unzip(apt-get install unzip)"
if [ -n "$missing" ]; then
  echo "spec/run.sh: missing tools:$missing" >&2
  echo "spec/run.sh: the specs that need them will fail; install them first" >&2
fi

# Nothing a spec starts may look for credentials on the link-local
# addresses of EC2 instance metadata or ECS: the specs of those sources
# point them at loopback servers of their own.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI

# The specs run the Lua library built into the binary under test (a
# LAKEHOST_PATH of your own, say "$PWD/lua" to try edited sources without a
# rebuild, still goes first).
LAKEHOST_BIN="$bin" exec "$bin" spec/run.lua "$@"
