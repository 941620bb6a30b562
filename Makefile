# eddy - top-level Makefile: a thin front end over CMake.
#
#   make                      build (Debug) into build/: libs, tests, examples
#   make test                 build and run the tests (ctest -j2)
#   make test SANITIZE=address,undefined     ... with sanitizers
#   make test CC=clang WERROR=1              ... with clang, warnings as errors
#   make demo                 build Release, run build/release/examples/demo
#   make bench [QUICK=1]      build Release, run bench/run.sh
#   make install PREFIX=/usr/local [DESTDIR=...]   install the Release build
#   make check-install        install to a temp prefix and build a consumer
#   make check-models         run scripts/check-models.sh (when there is one)
#   make clean                remove build/
#
# Variables: CC (gcc), BUILD_TYPE (Debug), SANITIZE (""), WERROR (0),
#            PREFIX (/usr/local), JOBS (cores), CTEST_JOBS (2), CTEST_ARGS.
#
# Build directories (one per configuration, so switching never rebuilds):
#   build/                         Debug, gcc
#   build/<cc>                     Debug, another compiler (build/clang)
#   build/release[-<cc>]           Release (demo, bench, install)
#   build/san-<sanitizers>-<cc>    sanitizer builds (build/san-address-undefined-gcc)
#   any other BUILD_TYPE           build/<buildtype>[-<cc>]
#
# Every target first runs scripts/deps.sh, which installs missing build tools.

SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
.DEFAULT_GOAL := all

ifeq ($(origin CC),default)
CC := gcc
endif
BUILD_TYPE ?= Debug
SANITIZE   ?=
WERROR     ?= 0
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
CTEST_ARGS ?=
CMAKE      ?= cmake
CTEST      ?= ctest

export CC SANITIZE

comma := ,
empty :=
space := $(empty) $(empty)
lc = $(shell echo '$(1)' | tr '[:upper:]' '[:lower:]')

CC_NAME   := $(notdir $(firstword $(CC)))
CC_SUFFIX := $(if $(filter gcc cc,$(CC_NAME)),,$(CC_NAME))
SAN_NAME  := $(subst $(comma),-,$(subst $(space),,$(SANITIZE)))

# $(call build_dir,<build type>)
build_dir = build$(strip \
  $(if $(SAN_NAME), \
    /san-$(SAN_NAME)-$(CC_NAME)$(if $(filter Debug,$(1)),,-$(call lc,$(1))), \
    $(if $(filter Debug,$(1)), \
      $(if $(CC_SUFFIX),/$(CC_SUFFIX)), \
      /$(call lc,$(1))$(if $(CC_SUFFIX),-$(CC_SUFFIX)))))

ON_OFF = $(if $(filter 1 ON on yes YES true TRUE,$(1)),ON,OFF)

BUILD_DIR   := $(call build_dir,$(BUILD_TYPE))
RELEASE_DIR := $(call build_dir,Release)

COMMON_ARGS = -DCMAKE_C_COMPILER=$(firstword $(CC)) \
              -DEDDY_WERROR=$(call ON_OFF,$(WERROR)) \
              -DEDDY_SANITIZE=$(SAN_LIST)
SAN_LIST    := $(subst $(space),,$(SANITIZE))

# The install check needs an unsanitized library (a sanitized libeddy.so
# cannot be loaded by a plain program), so it is only part of plain builds.
TEST_INSTALL := $(if $(SAN_LIST),OFF,ON)

DEV_ARGS = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(COMMON_ARGS) \
           -DEDDY_BUILD_TESTS=ON -DEDDY_BUILD_EXAMPLES=ON -DEDDY_BUILD_BENCH=OFF \
           -DEDDY_TEST_INSTALL=$(TEST_INSTALL)
REL_ARGS = -DCMAKE_BUILD_TYPE=Release $(COMMON_ARGS) \
           -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=ON -DEDDY_BUILD_BENCH=ON \
           -DEDDY_TEST_INSTALL=OFF

DEPS = scripts/deps.sh

# $(call configure,<dir>,<cmake args>): run cmake only when the directory is
# new, the arguments changed since last time, or a program was skipped for
# a missing package (CMake itself re-runs when a CMakeLists.txt or a globbed
# directory changes).
define configure
@args='$(strip $(2))'; \
if [ ! -f '$(1)/CMakeCache.txt' ] || [ -f '$(1)/eddy-skipped.txt' ] || [ "$$(cat '$(1)/.eddy-cmake-args' 2>/dev/null)" != "$$args" ]; then \
  echo "== configure $(1): $$args"; \
  $(CMAKE) -S . -B '$(1)' $$args && printf '%s\n' "$$args" > '$(1)/.eddy-cmake-args'; \
fi
endef

.PHONY: all build test demo bench install check-install check-models clean help deps

all build:
	@$(DEPS)
	$(call configure,$(BUILD_DIR),$(DEV_ARGS))
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

deps:
	@$(DEPS) test

test:
	@$(DEPS) test
	$(call configure,$(BUILD_DIR),$(DEV_ARGS))
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)
	cd $(BUILD_DIR) && $(CTEST) --output-on-failure --no-tests=error -j$(CTEST_JOBS) $(CTEST_ARGS)

demo:
	@$(DEPS)
	$(call configure,$(RELEASE_DIR),$(REL_ARGS))
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS)
	@if [ -x $(RELEASE_DIR)/examples/demo ]; then \
	  echo "== $(RELEASE_DIR)/examples/demo"; \
	  exec $(RELEASE_DIR)/examples/demo; \
	else \
	  echo "no demo yet (examples/demo.c builds $(RELEASE_DIR)/examples/demo)"; \
	fi

bench:
	@$(DEPS) bench
	$(call configure,$(RELEASE_DIR),$(REL_ARGS))
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS)
	@if [ -f bench/run.sh ]; then \
	  EDDY_BUILD_DIR='$(RELEASE_DIR)' QUICK='$(QUICK)' exec bash bench/run.sh; \
	else \
	  echo "no benchmarks yet (bench/run.sh)"; \
	fi

install:
	@$(DEPS)
	$(call configure,$(RELEASE_DIR),$(REL_ARGS))
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS) --target eddy_static eddy_shared
	DESTDIR='$(DESTDIR)' $(CMAKE) --install $(RELEASE_DIR) --prefix '$(PREFIX)'

check-install:
	@$(DEPS)
	scripts/check-install.sh

check-models:
	@$(DEPS)
	@if [ -f scripts/check-models.sh ]; then \
	  $(DEPS) models && exec bash scripts/check-models.sh; \
	else \
	  echo "no models yet"; \
	fi

clean:
	rm -rf build

help:
	@sed -n '2,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'
