# images/images.mk: container image targets, `include`d by the top-level Makefile.
#
#   make images REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com/efa-validation [ONLY=<image>]
#   make images-dry-run [REGISTRY=...] [ONLY=<image>]    print the docker commands, run nothing
#   make images-lint                                      check that every version is pinned
#
# ONLY=<image> builds that image and the images it is built from (e.g. ONLY=sglang-mooncake).

IMAGES_MK_DEFAULT_GOAL := $(.DEFAULT_GOAL)
IMAGES_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
IMAGES_SELECTION = $(if $(REGISTRY),--registry "$(REGISTRY)") $(if $(ONLY),--only "$(ONLY)")

.PHONY: images images-dry-run images-lint

images: images-lint
	$(if $(REGISTRY),,$(error REGISTRY is not set: make images REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com/efa-validation))
	$(PYTHON) $(IMAGES_MK_DIR)/build.py $(IMAGES_SELECTION)

images-dry-run:
	$(PYTHON) $(IMAGES_MK_DIR)/build.py --dry-run $(IMAGES_SELECTION)

images-lint:
	$(PYTHON) $(IMAGES_MK_DIR)/lint.py

# Including this file must not make `images` the default goal of the top-level Makefile.
.DEFAULT_GOAL := $(IMAGES_MK_DEFAULT_GOAL)
