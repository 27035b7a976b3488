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

.PHONY: all check unit run bootstrap demo clean bench-ingest
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

# Every member is linked (--whole-archive): a strong definition always
# wins over a weak placeholder, whichever member the linker meets first.
WHOLE_LIB := -Wl,--whole-archive libvitrine.a -Wl,--no-whole-archive

vitrine: $(CLI_OBJ) libvitrine.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(WHOLE_LIB) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h libvitrine.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(WHOLE_LIB) $(LDFLAGS) $(PKG_LIBS) $(LDLIBS)

# Unit tests only (no bootstrap), for a quick edit-test loop.
unit: $(TESTS)
	@scripts/run-tests --unit-only $(TESTS)

check: bootstrap
	@$(MAKE) --no-print-directory all $(TESTS)
	@scripts/run-tests $(TESTS)

run: bootstrap
	@$(MAKE) --no-print-directory all
	@scripts/fetch-demo
	./vitrine serve --db $${VITRINE_DB:-./vitrine.db}

bench-ingest: all
	bench/ingest/run

clean:
	rm -rf $(BUILD) vitrine libvitrine.a test-artifacts

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
