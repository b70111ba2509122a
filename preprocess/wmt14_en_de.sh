#!/usr/bin/env bash
# WMT'14 English-German, the ConvS2S paper's data (Gehring et al. 2017): Europarl v7,
# CommonCrawl, News Commentary v9; newstest2013 valid; newstest2014 (full, 3,003) test.
# See preprocess/README.md. Usage: bash preprocess/wmt14_en_de.sh [options]
set -euo pipefail

SRC=en TGT=de
TEST_SET=newstest2014-deen
# fairseq's prepare-wmt14en2de.sh --icml17 lists (its default uses News Commentary v12).
TRAIN_CORPORA=(
    "training-parallel-europarl-v7.tgz|http://statmt.org/wmt13/training-parallel-europarl-v7.tgz|training/europarl-v7.de-en"
    "training-parallel-commoncrawl.tgz|http://statmt.org/wmt13/training-parallel-commoncrawl.tgz|commoncrawl.de-en"
    "training-parallel-nc-v9.tgz|http://statmt.org/wmt14/training-parallel-nc-v9.tgz|training/news-commentary-v9.de-en"
)
source "$(dirname "${BASH_SOURCE[0]}")/lib_wmt14.sh"
