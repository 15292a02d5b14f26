/**
 * An IOMMU domain (`struct iommu_domain`) as the group and DMA layers see it:
 * its type, its aperture, and for DMA types the DMA cookie that holds the
 * IOVA domain and the flush queue (owned by `dma/`). The rcache range K is
 * chosen when the domain is allocated and never changes on it
 * (docs/configurable-range.md §1).
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { RangeChoice } from "./range-policy.ts";
import type { DomainType, ResvRegion } from "./types.ts";

/** What `dma/` attaches to a DMA domain (`struct iommu_dma_cookie`). */
export interface DmaCookie {
  readonly iovad: IovaDomain;
  /** The flush queue is set up (`cookie->fq_domain`). */
  readonly fqActive: boolean;
  /** Models `iommu_dma_init_fq()` on a live domain (DMA-4.2); false on failure. */
  initFq(): boolean;
  /** Models `iommu_put_dma_cookie()`: timer deleted, queued IOVAs dropped (DMA-4.8). */
  teardown(): void;
}

export class IommuDomain {
  /** Allocation serial number, for logs and tests. */
  readonly serial: number;
  type: DomainType;
  /** The rcache range this domain's IOVA domain gets (fixed at allocation). */
  readonly range: RangeChoice;
  readonly granule: number;
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
  readonly forceAperture: boolean;
  cookie: DmaCookie | null = null;
  /** Direct regions identity-mapped into the domain at install (R-GRP-3.7). */
  readonly directMappings: ResvRegion[] = [];
  /** Set once the domain is freed; nothing may use it after. */
  dead = false;

  constructor(init: {
    serial: number;
    type: DomainType;
    range: RangeChoice;
    granule: number;
    apertureEnd: bigint;
  }) {
    this.serial = init.serial;
    this.type = init.type;
    this.range = init.range;
    this.granule = init.granule;
    this.apertureStart = 0n;
    this.apertureEnd = init.apertureEnd;
    this.forceAperture = true;
  }
}
