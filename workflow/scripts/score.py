# One adapter for every score_<scorer> rule: the rule name picks the library stage.
from steerbench.runlog import run_script
from steerbench.stages import score as stage


def main(sm):
    i, p, w = sm.input, sm.params, sm.wildcards
    out, cov = sm.output[0], p.min_coverage
    cfg = dict(p.cfg)
    if sm.rule == "score_quality":
        stage.score_quality_file(i.generations, i.model, out, device=p.device, batch_size=cfg.get("batch_size", 8),
                                 max_length=cfg.get("max_length", 1024), min_coverage=cov)
    elif sm.rule == "score_similarity":
        stage.score_similarity_file(i.generations, list(i.data), out, model=cfg.get("model"), device=p.device,
                                    min_coverage=cov)
    elif sm.rule == "score_mc":
        stage.score_mc_file(i.model, list(zip(i.steerers, i.data)), int(w.layer), float(w.T), out, device=p.device,
                            dtype=p.dtype, batch_size=cfg.get("batch_size", 8), limit=p.limit, min_coverage=cov,
                            prompt_format=p.prompt_format)
    elif sm.rule == "score_judge":
        stage.score_judge_file(i.generations, list(i.data), i.truth_model, i.info_model, out, device=p.device,
                               batch_size=cfg.get("batch_size", 8), min_coverage=cov)
    elif sm.rule == "score_reward":
        stage.score_reward_file(i.generations, i.model, out, device=p.device, batch_size=cfg.get("batch_size", 4),
                                max_length=cfg.get("max_length", 2048), min_coverage=cov)
    elif sm.rule == "score_perspective":
        stage.score_perspective_file(i.generations, out, cfg=cfg, min_coverage=cov)
    elif sm.rule == "score_toxicity_open":
        stage.score_toxicity_open_file(i.generations, i.model, out, device=p.device, min_coverage=cov)
    else:
        raise NotImplementedError(f"score.py has no adapter for rule {sm.rule}")


run_script(snakemake, main)
