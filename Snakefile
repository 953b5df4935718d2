# steerbench: benchmark activation-steering methods for LLM alignment.
#
#   snakemake --cores 2                                  the offline demo (config/config.yaml)
#   snakemake --profile profiles/slurm                   the paper on a SLURM cluster
#   snakemake -n --configfile config/paper.yaml          what the paper reproduction would run
#
# The demo config is only loaded when no --configfile is given, so a paper or CI config
# never inherits the demo's models or methods through Snakemake's deep merge.

from snakemake.utils import min_version

min_version("9.0")

if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/rtp_filter.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/learned.smk"
include: "workflow/rules/steerers.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/tables.smk"

# The steering-strength analysis runs only for configs with a `strength:` section.
if "strength" in config:

    include: "workflow/rules/strength.smk"



rule all:
    input:
        all_targets(),
        strength_targets() if "strength" in config else [],
    default_target: True
