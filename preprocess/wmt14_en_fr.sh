#!/usr/bin/env bash
# WMT'14 English-French, the ConvS2S paper's data (Gehring et al. 2017): Europarl v7,
# CommonCrawl, UN, News Commentary v9, Gigaword French-English (10^9); newstest2013 valid;
# newstest2014 (full, 3,003) test.
# See preprocess/README.md. Usage: bash preprocess/wmt14_en_fr.sh [options]
set -euo pipefail

SRC=en TGT=fr
TEST_SET=newstest2014-fren
# fairseq's prepare-wmt14en2fr.sh lists; giga-fren's members are gzip files inside the tar.
TRAIN_CORPORA=(
    "training-parallel-europarl-v7.tgz|http://statmt.org/wmt13/training-parallel-europarl-v7.tgz|training/europarl-v7.fr-en"
    "training-parallel-commoncrawl.tgz|http://statmt.org/wmt13/training-parallel-commoncrawl.tgz|commoncrawl.fr-en"
    "training-parallel-un.tgz|http://statmt.org/wmt13/training-parallel-un.tgz|un/undoc.2000.fr-en"
    "training-parallel-nc-v9.tgz|http://statmt.org/wmt14/training-parallel-nc-v9.tgz|training/news-commentary-v9.fr-en"
    "training-giga-fren.tar|http://statmt.org/wmt10/training-giga-fren.tar|giga-fren.release2.fixed.gz"
)
source "$(dirname "${BASH_SOURCE[0]}")/lib_wmt14.sh"
