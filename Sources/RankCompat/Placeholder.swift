// RankCompat
