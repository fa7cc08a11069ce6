# make lab      create .venv on first use, register the "segedu" kernel, fetch missing data, open JupyterLab on notebooks/
# make test     the same set-up, then the whole suite: unit tests, browser tests and every notebook under nbval
# make data     download CamVid and ISBI 2012 where missing (never fails; SEGEDU_NO_DOWNLOAD=1 turns it off)
# make site     execute every notebook (fast profile) and render the static course site in site/, English and Korean
# make student  learner copies of the notebooks, solutions removed, in notebooks/student/ (Korean: student/ko/)
# make notebooks  execute every notebook in place (fast profile) and store it lean: the outputs that are committed
# make smoke-full every notebook end to end in the full profile on this machine, a few optimizer steps per training
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.segedu-installed
LAB_ARGS ?=
# Containers often run as root, which Jupyter refuses without --allow-root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=

.PHONY: lab test install kernel data student site notebooks smoke-full clean

install: $(STAMP)

# One stamp: a second `make lab` or `make test` installs nothing unless the pins or pyproject.toml changed.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name segedu --display-name "Python (segedu)" >/dev/null
	# nbgrader is for instructors (make student); learners' JupyterLab does not load its panels or server parts,
	# nor ask about Jupyter news on first start.
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyterlab/apputils-extension:announcements >/dev/null 2>&1
	for part in formgrader validate_assignment assignment_list course_list; do \
		$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$part >/dev/null 2>&1; done
	touch $(STAMP)

kernel: $(STAMP)

# Missing data sets are fetched (sizes stated first); offline, the notebooks run on synthetic stand-ins.
data: $(STAMP)
	-$(BIN)/python -m segedu data fetch-missing

# The Korean edition (notebooks/ko, built from the English notebooks and notebooks/locale/ko) opens when
# SEGEDU_LANG, or else the locale's LANG, says Korean: `SEGEDU_LANG=ko make lab`.
# JupyterLab's own menus are then Korean too (its language pack, with settings kept in .jupyterlab-ko), and so are
# the checks' messages (SEGEDU_LANG=ko in the kernels).
CHOSEN_LANGUAGE := $(or $(SEGEDU_LANG),$(LANG))
KOREAN := $(filter ko%,$(CHOSEN_LANGUAGE))
NOTEBOOK_DIR := $(if $(KOREAN),notebooks/ko,notebooks)
LAB_SETTINGS := $(CURDIR)/.jupyterlab-ko

lab: $(STAMP) data
	$(if $(KOREAN),$(BIN)/python -m segedu.course.lab_language $(LAB_SETTINGS))
	$(if $(KOREAN),SEGEDU_LANG=ko )$(BIN)/jupyter lab --notebook-dir=$(NOTEBOOK_DIR) \
		$(if $(KOREAN),--LabApp.user_settings_dir=$(LAB_SETTINGS)) \
		$(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP) data
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider \
		--ignore=notebooks/student tests notebooks $(PYTEST_ARGS)

student: $(STAMP)
	$(BIN)/python -m segedu.course.student notebooks notebooks/student
	$(BIN)/python -m segedu.course.student notebooks/ko notebooks/student/ko

site: $(STAMP)
	SEGEDU_PROFILE=$${SEGEDU_PROFILE:-fast} $(BIN)/python -m segedu.course.site notebooks site

notebooks: $(STAMP)
	SEGEDU_PROFILE=fast $(BIN)/python -m segedu.course.site notebooks --refresh

# What a learner runs on a GPU, run once on the CPU: full sizes and widths, SEGEDU_MAX_STEPS optimizer steps per
# training and batches per evaluation. Slow (not part of CI); docs/performance.md records its last passing run.
smoke-full: $(STAMP)
	rm -rf build/smoke-full && mkdir -p build/smoke-full && cp notebooks/*.ipynb build/smoke-full/
	SEGEDU_PROFILE=full SEGEDU_MAX_STEPS=$${SEGEDU_MAX_STEPS:-2} $(BIN)/python -m segedu.course.site build/smoke-full --refresh

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache
