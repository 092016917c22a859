# R's dynamicTreeCut::cutreeHybrid on trees written by make_treecut_reference.py (run that script, not this one).
#
#   Rscript Testing/bench/make_treecut_reference.R FOLDER
#
# FOLDER holds configs.csv (one configuration per row: case, deep_split, pam_respects_dendro, min_cluster_size,
# pam_stage, cut_height, max_pam_dist; NA = R's default) and, per case, CASE_merge.i32 (hclust$merge, column-major),
# CASE_height.f64 and CASE_diss.f64 (square). Writes labels_ROW.i32 and seconds.json (elapsed time per row).
suppressMessages(library(dynamicTreeCut))
folder <- commandArgs(trailingOnly = TRUE)[1]
configs <- read.csv(file.path(folder, "configs.csv"), stringsAsFactors = FALSE)
trees <- list()
load_case <- function(name) {
  h <- readBin(file.path(folder, paste0(name, "_height.f64")), "double", n = 1e8)
  n <- length(h) + 1
  merge <- matrix(readBin(file.path(folder, paste0(name, "_merge.i32")), "integer", n = 2 * (n - 1), size = 4),
                  ncol = 2)
  diss <- matrix(readBin(file.path(folder, paste0(name, "_diss.f64")), "double", n = n * n), n, n)
  list(dendro = structure(list(merge = merge, height = h, order = seq_len(n), method = "average"),
                          class = "hclust"),
       diss = diss)
}
seconds <- numeric(nrow(configs))
for (i in seq_len(nrow(configs))) {
  cfg <- configs[i, ]
  if (is.null(trees[[cfg$case]])) trees[[cfg$case]] <- load_case(cfg$case)
  tree <- trees[[cfg$case]]
  cut <- if (is.na(cfg$cut_height)) NULL else cfg$cut_height
  args <- list(dendro = tree$dendro, distM = tree$diss, cutHeight = cut, minClusterSize = cfg$min_cluster_size,
               deepSplit = cfg$deep_split, pamStage = cfg$pam_stage, pamRespectsDendro = cfg$pam_respects_dendro,
               verbose = 0)
  if (!is.na(cfg$max_pam_dist)) args$maxPamDist <- cfg$max_pam_dist
  t0 <- proc.time()
  labels <- do.call(cutreeHybrid, args)$labels
  seconds[i] <- (proc.time() - t0)[["elapsed"]]
  writeBin(as.integer(labels), file.path(folder, sprintf("labels_%d.i32", i)), size = 4)
}
writeLines(paste0("[", paste(sprintf("%.4f", seconds), collapse = ", "), "]"), file.path(folder, "seconds.json"))
