/** What `tryLead` found: whether the caller leads, and the fencing token of its term. */
export interface Leadership {
  leader: boolean;
  /**
   * Grows by at least one each time leadership passes to another holder (never for a renewal by
   * the same holder): a leader can tell a newer term from its own.
   */
  fence: number;
  /** Who holds the lease now (the caller when `leader`). */
  holder?: string;
}

/**
 * Leases held in the store, shared by every instance on the same storage: one instance per
 * project runs maintenance (reclaiming lapsed task leases, promoting due tasks, expiring,
 * purging) instead of every worker on every poll.
 */
export interface Coordination {
  /**
   * Takes the lease `name` for `holder` when it is free or its previous holder's lease lapsed, or
   * renews it when `holder` already has it; in both cases it then lasts `ttlMs` from now. Never
   * makes two holders leaders of the same name at once (within the store's clock).
   */
  tryLead(name: string, holder: string, ttlMs: number): Promise<Leadership>;
  /** Gives the lease up at once (graceful shutdown) when `holder` has it; another instance may take it at its next try. */
  resign(name: string, holder: string): Promise<void>;
}
