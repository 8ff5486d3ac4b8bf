# lakehost -- build, test, install.
#
#   make                 release build of ./lakehost (one line per step; V=1 shows the commands)
#   make debug           -O0 -g with Lua API checks
#   make test            every busted spec (ends with "N passed, N failed")
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan (= make check-asan)
#   make lint            luacheck (when installed) and clang-format --dry-run
#   make fuzz-smoke      each libFuzzer target for FUZZ_SECONDS (60) seconds
#   make deps            install the Debian packages the build and tests need
#   make demo            the example lake on a local moto endpoint: deploy, then run its pipeline here
#   make install PREFIX=/usr/local   one file, $(PREFIX)/bin/lakehost: the Lua library is built in

VERSION   := 0.1.0
PREFIX    ?= /usr/local
CC        ?= cc
PKGS      := yaml-0.1 expat libcurl openssl zlib libpcre2-8
BUILD     ?= build
TAGS      ?=

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# Lua itself is built from deps/lua (see deps/lua/README.md) and linked in:
# one executable with no liblua to find at run time, and the compiler sees
# the interpreter and the host together (link-time optimization).
LUA_DIR  := deps/lua
LUA_SRCS := $(sort $(wildcard $(LUA_DIR)/*.c))
# Where require() looks after lakehost's own library: the system's modules
# (busted and its C modules on Debian), as Debian's own Lua build has it.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
LUA_LDIRS := /usr/local/share/lua/5.4 /usr/local/lib/lua/5.4 /usr/share/lua/5.4
LUA_CDIRS := /usr/local/lib/lua/5.4 $(if $(MULTIARCH),/usr/lib/$(MULTIARCH)/lua/5.4) /usr/lib/lua/5.4
LUA_DEFS := -DLUA_COMPAT_5_3 -DLUA_USE_LINUX \
            -D'LUA_PATH_DEFAULT="$(subst $(eval) ,,$(foreach d,$(LUA_LDIRS),$(d)/?.lua;$(d)/?/init.lua;))./?.lua;./?/init.lua"' \
            -D'LUA_CPATH_DEFAULT="$(subst $(eval) ,,$(foreach d,$(LUA_CDIRS),$(d)/?.so;))./?.so"'

WARN    := -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings \
           -Wmissing-prototypes -Wstrict-prototypes -Wmissing-declarations
OPT     ?= -O2
# Release builds optimize across files (Lua's VM and the host's calls into
# it), Lua's VM at -O3.
IS_GCC  := $(shell $(CC) -v 2>&1 | grep -c '^gcc version')
LTO     ?= $(if $(filter 1,$(IS_GCC)),-flto=auto,-flto)
LUA_OPT ?= -O3

# Lua's memory comes from mimalloc (host/main.c says why); sanitizer builds
# keep the C library's allocator, which AddressSanitizer watches.
ALLOC_CFLAGS := -DLAKEHOST_MIMALLOC
ALLOC_LIBS   := -lmimalloc

ifeq ($(SANITIZE),1)
ALLOC_CFLAGS :=
ALLOC_LIBS   :=
BUILD   := build-asan
OPT     := -O1 -g
LTO     :=
LUA_OPT :=
SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/spec/support/lsan.supp:print_suppressions=0
endif

CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(LTO) $(WARN) -ffile-prefix-map=$(CURDIR)=. \
           -DLAKEHOST_VERSION='"$(VERSION)"' -I$(LUA_DIR) $(PKG_CFLAGS) $(SAN_CFLAGS) $(ALLOC_CFLAGS)
# Lua's sources: their own dialect and warnings, not the host's -Werror.
LUA_CFLAGS = -std=gnu99 $(OPT) $(LUA_OPT) $(LTO) -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. \
             $(LUA_DEFS) $(SAN_CFLAGS)
GEN_LUA_CFLAGS = -std=gnu99 -O0 -Wall -Wextra -ffile-prefix-map=$(CURDIR)=. $(LUA_DEFS) $(SAN_CFLAGS)
# -E: C modules loaded by require (busted's) find the Lua API in lakehost.
LDFLAGS += $(OPT) $(LTO) -Wl,-E
LDLIBS  += $(PKG_LIBS) $(ALLOC_LIBS) -lm -ldl

SRCS     := $(sort $(wildcard host/*.c))
LUA_OBJS := $(LUA_SRCS:$(LUA_DIR)/%.c=$(BUILD)/deps-lua/%.o)
GEN_LUA_OBJS := $(patsubst $(LUA_DIR)/%.c,$(BUILD)/embed-lua/%.o,\
                  $(filter-out %lib.c %/linit.c,$(LUA_SRCS)) $(LUA_DIR)/lauxlib.c)
# The files built into the binary (tools/embed.c makes $(BUILD)/embedded.c of
# them): every Lua module under lua/, found anew by each make, the
# Dockerfiles of the docker builder, the CloudFormation resource schemas
# (data/resources, made by tools/resource_schemas.lua), and what `init` and
# `new` write (lua/lake/scaffold.lua): the templates of scaffold/, and the
# example's trigger, catch and shared module, which new pipelines reuse as
# they are.
EMBED_LUA   := $(sort $(shell find lua -name '*.lua' -type f))
SCAFFOLD_DATA := $(shell find scaffold -type f ! -name '*.pyc') \
                 $(foreach m,trigger catch,$(addprefix pipelines/pipeline_example/$(m)/,src/index.py requirements.json)) \
                 shared/manifest.json shared/example/__init__.py shared/example/naming.py
EMBED_DATA  := $(sort $(wildcard docker/Dockerfile.*) $(wildcard data/resources/*.json) $(SCAFFOLD_DATA))
EMBED_FILES := $(EMBED_LUA) $(EMBED_DATA)
OBJS := $(SRCS:host/%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded.o $(LUA_OBJS)
BIN  := $(BUILD)/lakehost

# One short line per step; `make V=1` shows the commands instead.
ifeq ($(V),1)
Q   :=
say := @true
else
Q   := @
say := @printf '%-4s%s\n'
endif

.DELETE_ON_ERROR:
.PHONY: all debug test check-asan lint check fuzz fuzz-smoke deps install clean bench demo FORCE

all: lakehost

# ./lakehost: a copy of the flavour built last (`make` release, `make debug`),
# at hand in the source tree; compared, not dated, so switching back to a
# flavour that is already built still puts it there.
lakehost: $(BIN) FORCE
ifeq ($(SANITIZE),1)
	@echo "make: SANITIZE=1 builds $(BIN); ./lakehost stays the release build"
else
	@cmp -s $(BIN) $@ || { $(subst @,,$(say)) CP $@; cp $(BIN) $@; }
endif

$(BIN): $(OBJS)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/%.o: host/%.c host/host.h $(wildcard $(LUA_DIR)/*.h) $(BUILD)/.flags
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/deps-lua/%.o: $(LUA_DIR)/%.c $(wildcard $(LUA_DIR)/*.h) $(BUILD)/.flags
	@mkdir -p $(BUILD)/deps-lua
	$(say) CC $<
	$(Q)$(CC) $(LUA_CFLAGS) -c -o $@ $<

# The generator (tools/embed.c) runs at build time, on this machine. It links
# Lua's core (it opens no library) compiled once more, plainly: optimizing the
# interpreter at link time a second time, for a tool, would cost more.
$(BUILD)/embed: tools/embed.c $(GEN_LUA_OBJS) $(BUILD)/.flags
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS) -fno-lto -o $@ $< $(GEN_LUA_OBJS) -lz -lm -ldl

$(BUILD)/embed-lua/%.o: $(LUA_DIR)/%.c $(wildcard $(LUA_DIR)/*.h) $(BUILD)/.flags
	@mkdir -p $(BUILD)/embed-lua
	$(say) CC "$< (for tools/embed.c)"
	$(Q)$(CC) $(GEN_LUA_CFLAGS) -c -o $@ $<

$(BUILD)/embedded.c: $(BUILD)/embed $(EMBED_FILES) $(BUILD)/.embedded
	$(say) GEN $@
	$(Q)$(BUILD)/embed $@ $(EMBED_FILES)

$(BUILD)/gen/embedded.o: $(BUILD)/embedded.c host/host.h $(BUILD)/.flags
	@mkdir -p $(BUILD)/gen
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS) -Ihost -c -o $@ $<

# Rebuild when the flags change (release <-> debug).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LUA_CFLAGS) $(GEN_LUA_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || \
	 echo '$(CC) $(CFLAGS) $(LUA_CFLAGS) $(GEN_LUA_CFLAGS) $(LDFLAGS)' > $@

# Regenerate when the list of files to embed changes (one removed, say).
$(BUILD)/.embedded: FORCE
	@mkdir -p $(BUILD)
	@echo '$(EMBED_FILES)' | cmp -s - $@ || echo '$(EMBED_FILES)' > $@

debug:
	@$(MAKE) --no-print-directory BUILD=build-debug OPT='-O0 -g -DLUA_USE_APICHECK' LTO= LUA_OPT=

# Specs run the binary of this flavour (build/ or build-asan/), never ./lakehost,
# so a sanitizer run does not replace the release binary.
test: $(BIN)
	@$(TEST_ENV) ./spec/run.sh $(BIN) $(TAGS)

check-asan:
	@$(MAKE) --no-print-directory test SANITIZE=1

lint:
	@if command -v luacheck >/dev/null; then luacheck -q lua spec bench standalone scaffold tools app.lua; \
	 else echo "lint: luacheck not installed (apt-get install lua-check), skipped"; fi
	clang-format --dry-run -Werror host/*.c host/*.h fuzz/*.c tools/*.c

check: lint test

# Needs moto_server (pip install 'moto[server]') and a python3 with boto3.
demo: lakehost
	./lakehost tools/demo.lua

bench: lakehost
	@for b in bench/*.lua; do echo "== $$b"; ./lakehost $$b || exit 1; done

fuzz fuzz-smoke:
	$(MAKE) -C fuzz smoke FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60)

DEB_PKGS := lua5.4 lua-busted lua-cjson lua-check libyaml-dev libexpat1-dev \
            libcurl4-openssl-dev libssl-dev zlib1g-dev libpcre2-dev libmimalloc-dev pkg-config zip unzip python3 python3-pip \
            python3-boto3
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	   dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	 done; \
	 if [ -n "$$missing" ]; then \
	   echo "deps: installing$$missing"; \
	   SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	   $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	 else echo "deps: all present"; fi

# One file: the Lua library and the Dockerfiles are inside it.
install: lakehost
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/lakehost

clean:
	rm -rf build build-* lakehost lake.out .lake-cache
	-$(MAKE) -C fuzz clean
