// RankdService
