// RankingModels
