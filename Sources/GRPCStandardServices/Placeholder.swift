// GRPCStandardServices
