# DiscordOpus. The two commands a fresh machine needs: `make run`, `make test`.

GO        ?= go
BIN       := bin
GOFLAGS   ?=
export CGO_ENABLED ?= 1

.PHONY: all build run test bench vet fmt fuzz clean deps

all: build

## deps: download the pinned Go modules (go.sum is committed)
deps:
	$(GO) mod download

## build: both binaries into bin/ (discordopusd is pure Go)
build: deps
	$(GO) build -o $(BIN)/discordopus ./cmd/discordopus
	CGO_ENABLED=0 $(GO) build -o $(BIN)/discordopusd ./cmd/discordopusd

## run: start the desktop node (creates an identity on first run; ARGS adds flags)
run: build
	$(BIN)/discordopus run --init $(ARGS)

## test: vet, then the whole test suite (NAT/LAN tests need root for network namespaces)
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

## bench: benchmarks, each reported against a baseline measured in the same run
bench: deps
	@mkdir -p $(BIN)
	{ $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./dht/ ./chat/ ./cmd/... && \
	  $(GO) test -count=1 -run '^$$' -bench . -benchtime 2s ./e2e/ ; } | tee $(BIN)/bench.txt

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
	rm -rf $(BIN)
