# R's WGCNA on data written by make_wgcna_reference.py (run that script, not this one).
#
#   Rscript Testing/bench/make_wgcna_reference.R FOLDER
#
# FOLDER holds cases.csv (name, n_samples, n_genes, full: TRUE = every function, FALSE = pickSoftThreshold only) and
# per case NAME_expr.f64 (samples x genes, column-major); for full cases also NAME_labels.i32 (module labels, 0 =
# grey), NAME_split.i32 (labels to merge), merge_heights.f64 (mergeCloseModules cutHeights) and sub.i32 (1-based
# genes of the stored TOM block). Generic inputs: k_J.f64 (connectivity vectors, J = 1..n_k in generic.csv),
# cor.f64 and nsamples.i32 (for corPvalueStudent).
# Writes NAME_*.f64 / NAME_*.i32, sffi_J.f64, pvalues.f64 and colours.txt.
suppressMessages(library(WGCNA))
foreach::registerDoSEQ()  # pickSoftThreshold's %dopar% loop, run sequentially without a warning
folder <- commandArgs(trailingOnly = TRUE)[1]
path <- function(...) file.path(folder, paste0(...))
read_f64 <- function(name, n) readBin(path(name), "double", n = n)
read_i32 <- function(name, n) readBin(path(name), "integer", n = n, size = 4)
write_f64 <- function(x, name) writeBin(as.double(x), path(name))
write_i32 <- function(x, name) writeBin(as.integer(x), path(name), size = 4)

powers <- c(1:10, seq(12, 20, 2))
cases <- read.csv(path("cases.csv"), stringsAsFactors = FALSE)
for (i in seq_len(nrow(cases))) {
  name <- cases$name[i]
  n <- cases$n_samples[i]
  g <- cases$n_genes[i]
  datExpr <- matrix(read_f64(paste0(name, "_expr.f64"), n * g), n, g)
  for (type in c("unsigned", "signed")) {
    invisible(capture.output(  # pickSoftThreshold prints its table whatever verbose says
      sft <- pickSoftThreshold(datExpr, powerVector = powers, networkType = type, verbose = 0)))
    # Columns Power, SFT.R.sq, slope, truncated R.sq, mean(k), median(k), max(k); powerEstimate NA -> NaN.
    write_f64(as.matrix(sft$fitIndices), paste0(name, "_sft_", type, ".f64"))
    write_f64(if (is.na(sft$powerEstimate)) NaN else sft$powerEstimate, paste0(name, "_sft_", type, "_power.f64"))
  }
  if (!cases$full[i]) next
  sub <- read_i32("sub.i32", 1e6)
  adj <- adjacency(datExpr, power = 6, type = "unsigned")
  write_f64(adj[sub, sub], paste0(name, "_adj_sub.f64"))
  write_f64(rowSums(adj), paste0(name, "_adj_rowsums.f64"))
  tom <- TOMsimilarity(adj, TOMType = "unsigned", verbose = 0)
  write_f64(tom[sub, sub], paste0(name, "_tom_sub.f64"))
  write_f64(rowSums(tom), paste0(name, "_tom_rowsums.f64"))
  tom <- TOMsimilarityFromExpr(datExpr, networkType = "unsigned", power = 6, TOMType = "unsigned", verbose = 0)
  write_f64(tom[sub, sub], paste0(name, "_tomexpr_sub.f64"))
  write_f64(rowSums(tom), paste0(name, "_tomexpr_rowsums.f64"))
  labels <- read_i32(paste0(name, "_labels.i32"), g)
  me <- moduleEigengenes(datExpr, labels)
  write_f64(as.matrix(me$eigengenes), paste0(name, "_me.f64"))  # one column per label, sorted (ME0, ME1, ...)
  write_f64(unlist(me$varExplained), paste0(name, "_varexpl.f64"))
  split <- read_i32(paste0(name, "_split.i32"), g)
  for (height in read_f64("merge_heights.f64", 100)) {
    merged <- mergeCloseModules(datExpr, split, cutHeight = height, verbose = 0)$colors
    write_i32(merged, sprintf("%s_merged_%g.i32", name, height))
  }
}

generic <- read.csv(path("generic.csv"), stringsAsFactors = FALSE)
for (j in seq_len(generic$n_k)) {
  k <- read_f64(sprintf("k_%d.f64", j), 1e7)
  fit <- scaleFreeFitIndex(k, nBreaks = 10, removeFirst = FALSE)
  write_f64(c(fit$Rsquared.SFT, fit$slope.SFT), sprintf("sffi_%d.f64", j))
}
cors <- read_f64("cor.f64", 1e6)
write_f64(unlist(lapply(read_i32("nsamples.i32", 100), function(m) corPvalueStudent(cors, m))), "pvalues.f64")
writeLines(labels2colors(0:generic$max_label), path("colours.txt"))
