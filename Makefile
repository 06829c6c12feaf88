# DiscordOpus. The two commands a fresh machine needs: `make run`, `make test`.

GO        ?= go
NPM       ?= npm
BIN       := bin
GOFLAGS   ?=
export CGO_ENABLED ?= 1

WEB       := ui/web
E2E       := ui/e2e
# The system packages the app and its tests use: the desktop window
# (WebKitGTK, cgo), headless Chromium and Xvfb for the UI tests, and the
# network-namespace labs. Installed when missing, if we are root.
SYSPKGS   := libwebkit2gtk-4.0-dev libgtk-3-dev pkg-config chromium xvfb x11-apps iproute2 iptables fonts-noto-color-emoji

.PHONY: all build desktop run test test-go test-ui test-e2e test-desktop bench vet fmt fuzz clean deps sysdeps ui

all: build

## deps: download the pinned Go modules (go.sum is committed)
deps:
	$(GO) mod download

## sysdeps: install the missing system packages (root only; others are told what is missing)
sysdeps:
	@missing=$$(for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing: $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; \
	  else echo "missing system packages (install them as root): $$missing" >&2; fi; \
	fi

## ui: the web UI, from the committed package-lock, into ui/web/dist (embedded by go build)
ui: $(WEB)/node_modules/.package-lock.json
	cd $(WEB) && $(NPM) run build

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && $(NPM) ci --no-audit --no-fund

$(E2E)/node_modules/.package-lock.json: $(E2E)/package-lock.json
	cd $(E2E) && $(NPM) ci --no-audit --no-fund

## build: both binaries into bin/, the UI built into discordopus (discordopusd is pure Go)
build: deps ui
	$(GO) build -o $(BIN)/discordopus ./cmd/discordopus
	CGO_ENABLED=0 $(GO) build -o $(BIN)/discordopusd ./cmd/discordopusd

## desktop: discordopus with its native window (WebKitGTK via cgo) into bin/discordopus-desktop
desktop: deps ui
	$(GO) build -tags desktop -o $(BIN)/discordopus-desktop ./cmd/discordopus

## run: start the app: its window where there is a display and the desktop build works, else the browser
run: sysdeps build
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && $(MAKE) --no-print-directory desktop >/dev/null 2>&1; then \
	  exec $(BIN)/discordopus-desktop $(ARGS); \
	else \
	  echo "no display or no desktop build: opening the app in the browser"; \
	  exec $(BIN)/discordopus --browser $(ARGS); \
	fi

## test: vet, the Go tests, the UI's unit tests, the end-to-end tests in Chromium, the desktop window under Xvfb
test: sysdeps deps vet test-go test-ui test-e2e test-desktop

test-go:
	$(GO) test -count=1 -timeout 30m ./...

test-ui: $(WEB)/node_modules/.package-lock.json
	cd $(WEB) && $(NPM) test

test-e2e: build $(E2E)/node_modules/.package-lock.json
	cd $(E2E) && $(NPM) test

test-desktop: desktop
	$(GO) test -count=1 -tags desktop -run 'TestDesktopWindow' -timeout 5m ./cmd/discordopus/

vet:
	$(GO) vet ./...
	$(GO) vet -tags desktop ./cmd/discordopus/
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

## bench: benchmarks, each reported against a baseline measured in the same run
bench: build $(E2E)/node_modules/.package-lock.json
	@mkdir -p $(BIN)
	{ $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 90m ./dht/ ./chat/ ./cmd/... && \
	  $(GO) test -count=1 -run '^$$' -bench . -benchtime 2s ./e2e/ && \
	  (cd $(E2E) && node bench/ui.bench.mjs) ; } | tee $(BIN)/bench.txt

## fuzz: run each fuzz target for FUZZTIME (default 20s)
FUZZTIME ?= 20s
fuzz:
	@set -e; for t in keystore:FuzzDecode store:FuzzOpenSealed dht:FuzzOpenRecord node:FuzzParseConfig \
	    e2e:FuzzParseBundle e2e:FuzzParsePrekeys e2e:FuzzParseSession e2e:FuzzDecrypt e2e:FuzzAccept \
	    e2e:FuzzParseSafetyNumberQR chat:FuzzParseInvite chat:FuzzParsePayload chat:FuzzReadFrame \
	    chat:FuzzStoredRecords mailbox:FuzzReadFrame mailbox:FuzzDecodeClientFrame \
	    mailbox:FuzzDecodeServerFrame mailbox:FuzzDecodeStored; do \
	  echo "== $$t"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./$${t%%:*}/; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) $(WEB)/node_modules $(E2E)/node_modules $(E2E)/artifacts
	find $(WEB)/dist -mindepth 1 ! -name .placeholder -delete 2>/dev/null || true
