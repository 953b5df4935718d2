# Every score_<scorer> rule: the scorer's spec (steerbench.scoring.registry) does the work.
from steerbench.runlog import run_script
from steerbench.stages.score import score_from_snakemake

run_script(snakemake, score_from_snakemake)
