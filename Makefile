.PHONY: all build test bench clean

# Thin wrappers: the npm scripts in package.json are the source of truth.
all: build

build:
	npm run build

test:
	npm test

bench:
	npm run bench

clean:
	npm run clean
