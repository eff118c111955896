// RankLoad
