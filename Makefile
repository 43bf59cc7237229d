# KalshiWhale — one non-recursive Makefile for every program, the tests and the benchmark.
#
#   make                 build kw-api, kw-fetch, kw-ws, kw-admin into $(BUILD)/
#   make run             install missing packages, build, migrate, start the stack on :8000
#   make demo            the same stack on bundled sample data (deploy/sample), no internet
#   make check           format check, config checks, unit + integration tests, then the same
#                        suite under AddressSanitizer + UndefinedBehaviorSanitizer, then
#                        ThreadSanitizer (tests/check.sh)
#   make bench           wrk benchmark on loopback (see bench/README.md); BENCH=pg: bench-pg.sh alone
#   make install PREFIX=/usr/local DESTDIR=    /    make uninstall
#   make deb             the Debian package, build-deb/kalshiwhale_VERSION_ARCH.deb
#   make package-check   build it, then install, serve, upgrade and purge it in a throwaway root
#   make SANITIZE=address,undefined check-suite  one sanitized pass (make check does this)
#   make SANITIZE=thread unit integration-threads  the ThreadSanitizer pass (make check too)
#   make integration-pg  the lighttpd integration suite on a throwaway PostgreSQL cluster
#   make format / format-check / clean
#
# Warnings live in KW_WARN, apart from CFLAGS, so `make CFLAGS=-O0` never drops -Werror.

PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/kalshiwhale
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
SANITIZE ?=
ifeq ($(SANITIZE),)
BUILD    ?= build
else ifeq ($(SANITIZE),thread)
BUILD    ?= build-tsan
else
BUILD    ?= build-san
endif
CC       ?= cc
CFLAGS   ?= -O2 -g
PYTHON   ?= /usr/bin/python3

PKG_COMMON := json-c sqlite3 libpq openssl
pkg = $(shell pkg-config $(1) $(2) 2>/dev/null)

KW_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla
KW_HARDEN := -fstack-protector-strong -fPIE
KW_CPPFLAGS := -std=c11 -D_GNU_SOURCE -Ilib -I$(BUILD)/gen -MMD -MP
ifeq ($(SANITIZE),)
KW_HARDEN += -D_FORTIFY_SOURCE=2
else
KW_SAN := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
KW_CFLAGS = $(KW_CPPFLAGS) $(KW_WARN) $(KW_HARDEN) $(KW_SAN) $(CFLAGS) \
            $(call pkg,--cflags,$(PKG_COMMON) libcurl libwebsockets)
KW_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(KW_SAN) $(LDFLAGS)

LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o $(BUILD)/gen/pg_migrations.o
LIBKW     := $(BUILD)/libkw.a
SQL_FILES := $(sort $(wildcard sql/*.sql))
PG_SQL_FILES := $(sort $(wildcard sql/pg/*.sql))

PROGS := kw-api kw-fetch kw-ws kw-admin
api_DIR := fcgi
api_LIBS = -lfcgi $(call pkg,--libs,$(PKG_COMMON) libjwt libmaxminddb)
fetch_DIR := fetch
fetch_LIBS = $(call pkg,--libs,$(PKG_COMMON) libcurl) -pthread
ws_DIR := ws
ws_LIBS = $(call pkg,--libs,$(PKG_COMMON) libwebsockets libjwt libcurl)
admin_DIR := admin
admin_LIBS = $(call pkg,--libs,$(PKG_COMMON) libjwt)

BINS := $(PROGS:%=$(BUILD)/%)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BENCH_BINS := $(BUILD)/bench/fcgi-ceiling

.PHONY: fuzz fuzz-check
.PHONY: all run check check-suite unit integration integration-apache integration-cgi integration-threads integration-pg conf-check bench install uninstall clean \
        format format-check deps run-deps demo docs man deb package-check
all: $(BINS)

# ---- build -------------------------------------------------------------------------------

# The migration files' names, rewritten only when they change: a file removed (or renamed)
# leaves the others older than the embedded copy, so their dates alone would not say so.
$(BUILD)/gen/sql.list: FORCE
	@mkdir -p $(@D)
	@echo '$(SQL_FILES) $(PG_SQL_FILES)' | cmp -s - $@ || echo '$(SQL_FILES) $(PG_SQL_FILES)' >$@

$(BUILD)/gen/migrations.c: $(SQL_FILES) tools/embed-sql.sh $(BUILD)/gen/sql.list
	@mkdir -p $(@D)
	sh tools/embed-sql.sh $@ kw_migrations $(SQL_FILES)

$(BUILD)/gen/pg_migrations.c: $(PG_SQL_FILES) tools/embed-sql.sh $(BUILD)/gen/sql.list
	@mkdir -p $(@D)
	sh tools/embed-sql.sh $@ kw_pg_migrations $(PG_SQL_FILES)

FORCE:

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(KW_CFLAGS) -c -o $@ $<

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(KW_CFLAGS) -c -o $@ $<

$(BUILD)/gen/pg_migrations.o: $(BUILD)/gen/pg_migrations.c
	$(CC) $(KW_CFLAGS) -c -o $@ $<

$(LIBKW): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

define prog_rule
$(BUILD)/kw-$(1): $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard $$($(1)_DIR)/*.c)) $(LIBKW)
	$$(CC) $$(KW_LDFLAGS) -o $$@ $$^ $$($(1)_LIBS)
endef
$(foreach p,api fetch ws admin,$(eval $(call prog_rule,$(p))))

$(BUILD)/tests/%: tests/unit/%.c $(LIBKW)
	@mkdir -p $(@D)
	$(CC) $(KW_CFLAGS) $(KW_LDFLAGS) -o $@ $< $(LIBKW) -lcmocka -pthread \
	  $(call pkg,--libs,$(PKG_COMMON) libjwt libcurl libmaxminddb)

# The contract test runs kw-api's own serializers and document generator: every kw-api object
# but main().
API_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(filter-out fcgi/main.c,$(wildcard fcgi/*.c)))
$(BUILD)/tests/test_contract: tests/unit/test_contract.c $(API_OBJ) $(LIBKW)
	@mkdir -p $(@D)
	$(CC) $(KW_CFLAGS) -Ifcgi $(KW_LDFLAGS) -o $@ $< $(API_OBJ) $(LIBKW) -lcmocka $(api_LIBS)

$(BUILD)/bench/fcgi-ceiling: bench/fcgi-ceiling.c
	@mkdir -p $(@D)
	$(CC) $(KW_CFLAGS) $(KW_LDFLAGS) -o $@ $< -lfcgi

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- set-up and running --------------------------------------------------------------------

# deps: every package building, testing, benchmarking and packaging need; run-deps: only what
# building and running need (make run / make demo leave test tools and browsers out).
deps:
	@bash deploy/install-deps.sh --check >/dev/null 2>&1 || bash deploy/install-deps.sh

run-deps:
	@bash deploy/install-deps.sh --check run >/dev/null 2>&1 || bash deploy/install-deps.sh run

run: run-deps
	@$(MAKE) --no-print-directory all
	@bash deploy/run.sh $(abspath $(BUILD))

# The stack on bundled sample data (deploy/sample, two recorded runs): no internet needed.
demo: run-deps
	@$(MAKE) --no-print-directory all
	@bash deploy/run.sh $(abspath $(BUILD)) --demo

# ---- tests ---------------------------------------------------------------------------------

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# The integration suites run through tests/pytest-once-more.sh: a test that fails is run once
# more alone, and one that then passes is reported as FLAKY (see that script for why).
ITEST := bash tests/pytest-once-more.sh $(PYTHON)

integration: all $(BENCH_BINS) $(BUILD)/tests/test_store_drv \
  $(BUILD)/tests/test_store_ingest
	KW_BUILD=$(abspath $(BUILD)) $(ITEST) -q -p no:cacheprovider tests/integration

# The same suite through Apache (the systemd-socket deployment). Left out: the modules that do
# not go through Stack() or that walk every server themselves already.
APACHE_PASS_SKIPS := test_servers.py test_cgi.py test_install.py test_admin_db.py test_docs.py \
                     test_ws.py test_fetch.py test_checkout.py test_config_verdict.py \
                     test_dbaccess.py
integration-apache: all $(BENCH_BINS) $(BUILD)/tests/test_store_drv \
  $(BUILD)/tests/test_store_ingest
	KW_SERVER=apache KW_BUILD=$(abspath $(BUILD)) $(ITEST) -q -p no:cacheprovider \
	  tests/integration $(APACHE_PASS_SKIPS:%=--ignore=tests/integration/%)

# The API and security tests with kw-api as a plain CGI program (one process per request, as
# on a shared host), behind lighttpd's mod_cgi and then Apache's mod_cgid. Left out: tests of
# long-lived FastCGI workers, which a CGI deployment does not have (RELOAD replacing a worker,
# workers stopping on SIGTERM, metrics batched in a worker's memory: a CGI process writes its
# counts as it exits).
CGI_MODULES := test_api_v1.py test_legacy.py test_security.py test_foundation.py \
               test_monitoring.py test_checklist.py test_detection.py test_webhooks.py
CGI_SKIPS := test_foundation.py::test_reload_true_replaces_workers_when_settings_change \
             test_foundation.py::test_reload_false_keeps_workers \
             test_foundation.py::test_workers_exit_cleanly_on_sigterm \
             test_monitoring.py::test_metrics_are_batched_not_written_per_request
integration-cgi: all
	@rc=0; for server in lighttpd-cgi apache-cgi; do \
	  echo "== KW_SERVER=$$server"; \
	  KW_SERVER=$$server KW_BUILD=$(abspath $(BUILD)) $(ITEST) -q -p no:cacheprovider \
	    $(CGI_MODULES:%=tests/integration/%) $(CGI_SKIPS:%=--deselect=tests/integration/%) \
	    || rc=1; \
	done; exit $$rc

# Under ThreadSanitizer (make check: SANITIZE=thread, KW_TEST_THREADS=4, KW_SANITIZE=1): the
# modules that push the most requests through many accept threads at once — the threads
# themselves, the limiter's exact counts, the reply cache, the write-behind writer under
# load, metrics, start and stop. The whole suite under TSan would add about as much again as
# the plain pass; these take about two minutes.
THREAD_MODULES := test_threads.py test_security.py test_scale.py test_nostall.py \
                  test_monitoring.py test_foundation.py
integration-threads: all
	KW_BUILD=$(abspath $(BUILD)) $(ITEST) -q -p no:cacheprovider \
	  $(THREAD_MODULES:%=tests/integration/%)

# The same lighttpd suite on PostgreSQL: the harness starts a throwaway cluster (initdb into a
# temporary directory, a free port on 127.0.0.1) and gives every stack a fresh database of its
# own (tests/integration/pgcluster.py, kwstack.py).
integration-pg: all $(BENCH_BINS) $(BUILD)/tests/test_store_drv \
  $(BUILD)/tests/test_store_ingest
	KW_TEST_DB=postgres KW_BUILD=$(abspath $(BUILD)) $(ITEST) -q -p no:cacheprovider \
	  tests/integration

conf-check: all
	@bash tests/conf-check.sh $(abspath $(BUILD))

check-suite: unit integration

check: deps
	@bash tests/check.sh

# ---- fuzzing (libFuzzer; clang with ASan + UBSan) ---------------------------------------------
# make fuzz        every target for FUZZ_SECONDS (default 120) each, corpus kept in $(BUILD)/fuzz
# make fuzz-check  the same for 12 s each (part of make check)
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := query body origin token ticket wsproto page forwarded
FUZZ_LIB_SRC := lib/http.c lib/util.c lib/codec.c lib/jsonbody.c lib/origins.c lib/auth.c lib/ticket.c \
                lib/proxy.c lib/ws_proto.c lib/kalshi.c lib/jscan.c
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRC) $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Ilib -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined $(call pkg,--cflags,json-c) -o $@ $< $(FUZZ_LIB_SRC) \
	  $(call pkg,--libs,json-c libjwt openssl)

fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$t; echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$t- \
	    $(BUILD)/fuzz/corpus/$$t tests/fuzz/seeds/$$t >$(BUILD)/fuzz/$$t.log 2>&1 || \
	    { tail -n 40 $(BUILD)/fuzz/$$t.log; exit 1; }; \
	  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' $(BUILD)/fuzz/$$t.log || true; \
	done

fuzz-check:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=12

# ---- benchmark -----------------------------------------------------------------------------

bench: deps all $(BENCH_BINS)
	@bash bench/run.sh $(abspath $(BUILD))

# ---- install -------------------------------------------------------------------------------

WWW_FILES := $(shell find deploy/www -type f 2>/dev/null)

# Man pages are generated from each program's --help and --version, so the two never differ.
MANS := $(PROGS:%=$(BUILD)/man/%.1)
man_name_kw-api := KalshiWhale API worker (FastCGI)
man_name_kw-fetch := KalshiWhale fetcher for Kalshi market data
man_name_kw-ws := KalshiWhale WebSocket sidecar for live alerts
man_name_kw-admin := KalshiWhale administration
$(BUILD)/man/%.1: $(BUILD)/%
	@mkdir -p $(@D)
	help2man --no-info --section=1 --name="$(man_name_$*)" --output=$@ $<

man: $(MANS)

UNITS := $(wildcard deploy/systemd/*.service deploy/systemd/*.socket deploy/systemd/*.timer)
# Files that name installed paths are rewritten for PREFIX at install time.
subst_prefix = sed -e 's|/usr/local/bin|$(BINDIR)|g' -e 's|/usr/local/share|$(PREFIX)/share|g'

install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR)/sql $(DESTDIR)$(SHAREDIR)/examples \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/cron.d \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(SQL_FILES) $(DESTDIR)$(SHAREDIR)/sql/
	install -m 0644 lighttpd.conf.example apache.conf.example .env.example README.md \
	  $(DESTDIR)$(SHAREDIR)/examples/
	install -m 0644 $(MANS) $(DESTDIR)$(MANDIR)/man1/
	for u in $(UNITS); do $(subst_prefix) $$u >$(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	$(subst_prefix) deploy/kalshiwhale.cron >$(DESTDIR)$(SYSCONFDIR)/cron.d/kalshiwhale
	install -m 0644 deploy/kalshiwhale.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/kalshiwhale
	cd deploy/www && find . -type f | while read -r f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(SHAREDIR)/www/$$f"; done

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/%) $(PROGS:%=$(DESTDIR)$(MANDIR)/man1/%.1)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))
	rm -f $(DESTDIR)$(SYSCONFDIR)/cron.d/kalshiwhale $(DESTDIR)$(SYSCONFDIR)/logrotate.d/kalshiwhale
	rm -rf $(DESTDIR)$(SHAREDIR)

# ---- Debian package ------------------------------------------------------------------------
# debian/ builds it with dpkg-buildpackage; `make deb` does that in a copy of the tree (the
# build cleans its tree and writes to the parent directory), kept out of $(BUILD) so that its
# own build tree is not taken for ours. The package test needs root.
DEB_OUT ?= build-deb

deb:
	@sh tools/build-deb.sh $(abspath $(DEB_OUT))

package-check: deb
	KW_DEB_DIR=$(abspath $(DEB_OUT)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/package

# ---- housekeeping --------------------------------------------------------------------------

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find lib fcgi fetch ws admin tests bench -name '*.[ch]')

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: ok"
	@sh tools/check-banned.sh
	@sh tools/check-store.sh

clean:
	rm -rf build build-san build-tsan build-clang build-deb

docs: all
	sh tools/update-docs.sh $(abspath $(BUILD))
