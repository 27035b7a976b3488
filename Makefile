# vitrine - GNU Make build. `make` builds ./vitrine and libvitrine.a;
# `make check` bootstraps, builds and runs every test; `make run` starts a
# demo shop at http://127.0.0.1:8080.

CC      ?= gcc
PKGS    := sqlite3 libmicrohttpd jansson libutf8proc assimp libsodium
OPT     ?= -O2
CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -D_GNU_SOURCE -Isrc $(EXTRA_CFLAGS)
LDLIBS  := -lpthread -lm
ifneq ($(WERROR),)
CFLAGS  += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
# pkg-config is asked only once the bootstrap has installed the libraries.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

BUILD   := build
LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all check unit run bootstrap demo clean bench-ingest vendor
all: vitrine libvitrine.a

bootstrap:
	@scripts/bootstrap

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# Rebuilt whole, so a deleted source leaves no stale member behind.
libvitrine.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^


vitrine: $(CLI_OBJ) libvitrine.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) libvitrine.a $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h libvitrine.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< libvitrine.a $(LDFLAGS) $(PKG_LIBS) $(LDLIBS)

# Front-end files the storefront serves, copied from node_modules (npm ci in
# the bootstrap) into web/vendor/ (git-ignored): no bundler, no CDN. The
# Draco and Basis decoders are the ones <model-viewer> would otherwise
# fetch from gstatic; web/item.html points it at these copies.
VENDOR_FILES := \
  web/vendor/model-viewer/model-viewer.min.js:node_modules/@google/model-viewer/dist/model-viewer.min.js \
  web/vendor/model-viewer/LICENSE:node_modules/@google/model-viewer/LICENSE \
  web/vendor/draco/draco_wasm_wrapper.js:node_modules/three/examples/jsm/libs/draco/gltf/draco_wasm_wrapper.js \
  web/vendor/draco/draco_decoder.wasm:node_modules/three/examples/jsm/libs/draco/gltf/draco_decoder.wasm \
  web/vendor/draco/draco_decoder.js:node_modules/three/examples/jsm/libs/draco/gltf/draco_decoder.js \
  web/vendor/basis/basis_transcoder.js:node_modules/three/examples/jsm/libs/basis/basis_transcoder.js \
  web/vendor/basis/basis_transcoder.wasm:node_modules/three/examples/jsm/libs/basis/basis_transcoder.wasm \
  web/vendor/three/LICENSE:node_modules/three/LICENSE \
  web/vendor/three/three.module.min.js:node_modules/three/build/three.module.min.js \
  web/vendor/three/three.core.min.js:node_modules/three/build/three.core.min.js
VENDOR_OUT := $(foreach f,$(VENDOR_FILES),$(word 1,$(subst :, ,$(f))))
define vendor_rule
$(word 1,$(subst :, ,$(1))): $(word 2,$(subst :, ,$(1)))
	@mkdir -p $$(dir $$@)
	cp $$< $$@
endef
$(foreach f,$(VENDOR_FILES),$(eval $(call vendor_rule,$(f))))
# three's add-ons (loaders, controls, WebXR helpers) as one folder, for pages
# that use three directly: import map "three/addons/" -> /vendor/three/addons/.
web/vendor/three/addons/.stamp: node_modules/three/package.json
	@rm -rf web/vendor/three/addons && mkdir -p web/vendor/three
	cp -r node_modules/three/examples/jsm web/vendor/three/addons
	@touch $@
# The offline evaluation plots (docs/evaluation.md), shown by admin.html.
EVAL_PLOTS := $(patsubst docs/img/%,web/vendor/eval/%,$(wildcard docs/img/eval-*.svg))
web/vendor/eval/%.svg: docs/img/%.svg
	@mkdir -p $(dir $@)
	cp $< $@
vendor: $(VENDOR_OUT) web/vendor/three/addons/.stamp $(EVAL_PLOTS)
node_modules/%:
	@echo "make vendor: $@ is missing; run scripts/bootstrap (npm ci) first" >&2; exit 1

# Unit tests only (no bootstrap), for a quick edit-test loop.
unit: $(TESTS)
	@scripts/run-tests --unit-only $(TESTS)

check: bootstrap
	@$(MAKE) --no-print-directory all vendor $(TESTS)
	@scripts/run-tests $(TESTS)

run: bootstrap
	@$(MAKE) --no-print-directory all vendor
	@scripts/fetch-demo
	./vitrine serve --db $${VITRINE_DB:-./vitrine.db}

bench-ingest: all
	bench/ingest/run

clean:
	rm -rf $(BUILD) vitrine libvitrine.a test-artifacts web/vendor

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
