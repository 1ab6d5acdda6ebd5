import { HierError, Rng } from '@hier-ts/core';
import type { Body } from './body.js';
import { Cnn4Body } from './cnn4.js';
import { HierHead } from './head.js';
import { HierModel } from './model.js';
import { ResNetBody } from './resnet.js';
import { type ViTConfig, ViTBody } from './vit.js';

export interface ModelOptions {
  /** Image side in pixels (default: the model's native size). ViTs need a multiple of the patch size. */
  imageSize?: number;
  /** ViT patch size (default: the model's). */
  patchSize?: number;
  /** Input channels (default 3; cnn4 also takes 1). */
  inChannels?: number;
  /** Embedding width of the head (default 128). */
  embeddingDim?: number;
  /** Curvature of the head's ToPoincare (default 0.1); 0 → L2 normalisation. */
  hypC?: number;
  /** Feature clipping radius (default 2.3). */
  clipR?: number;
  /** HIER use_lastnorm (default true). */
  lastNorm?: boolean;
  /** Seed (or Rng) for every random init, incl. the orthogonal head (default seed 0). */
  seed?: number;
  rng?: Rng;
  /** ResNet/cnn4: BN uses and keeps running statistics in train mode (default: true for ResNet, false for cnn4). */
  bnFreeze?: boolean;
  /** ViT: freeze patch_embed (default true, as HIER). */
  freezePatchEmbed?: boolean;
  /** DeiT distilled output rule (default 'timm-0.4.12': CLS in train mode, (CLS+DIST)/2 in eval). */
  distilledOutput?: ViTConfig['distilledOutput'];
  /** ViT architecture overrides (the configurable `vit_tiny` uses them; parity uses them for other depths). */
  depth?: number;
  embedDim?: number;
  numHeads?: number;
  mlpHidden?: number;
  /** ViT LayerNorm eps (default 1e-6, timm 0.4.12 and DINO). */
  lnEps?: number;
  /** ViT qkv bias (default true). */
  qkvBias?: boolean;
  /** ResNet blocks per stage (default: the architecture's). */
  resnetLayers?: [number, number, number, number];
}

export interface PretrainedSource {
  /** Where the weights come from, for the README and error messages. */
  source: string;
  /** How to produce a safetensors file with the expected names on a machine with internet. */
  howTo: string;
}

export interface ModelInfo {
  name: string;
  family: 'resnet' | 'vit' | 'cnn';
  description: string;
  featureDim: number;
  defaultImageSize: number;
  patchSize?: number;
  /** Name mapping used by `loadWeights`: 'torchvision', 'timm' or 'none' (no public checkpoint). */
  weightNames: 'torchvision' | 'timm' | 'none';
  pretrained?: PretrainedSource;
}

interface Entry {
  info: ModelInfo;
  build: (o: ModelOptions, rng: Rng) => Body;
}

const vit = (
  name: string,
  dims: { embedDim: number; depth: number; numHeads: number; patch: number; image: number; distilled?: boolean; resize?: 'timm' | 'dino' },
): Entry['build'] => {
  return (o, rng) => {
    const embedDim = o.embedDim ?? dims.embedDim;
    return new ViTBody(
      name,
      {
        imageSize: o.imageSize ?? dims.image,
        patchSize: o.patchSize ?? dims.patch,
        inChannels: o.inChannels ?? 3,
        embedDim,
        depth: o.depth ?? dims.depth,
        numHeads: o.numHeads ?? dims.numHeads,
        mlpHidden: o.mlpHidden ?? 4 * embedDim,
        lnEps: o.lnEps ?? 1e-6,
        qkvBias: o.qkvBias ?? true,
        distilled: dims.distilled ?? false,
        distilledOutput: o.distilledOutput ?? 'timm-0.4.12',
        freezePatchEmbed: o.freezePatchEmbed ?? true,
        posEmbedResize: dims.resize ?? 'timm',
      },
      rng,
    );
  };
};

const TIMM_HOWTO = (id: string): string =>
  `pip install timm safetensors; python -c "import timm, safetensors.torch as st; m = timm.create_model('${id}', pretrained=True); st.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, '${id}.safetensors')"`;

const REGISTRY: Record<string, Entry> = {
  resnet50: {
    info: {
      name: 'resnet50',
      family: 'resnet',
      description: 'torchvision ResNet-50 (v1.5) body, GAP + GMP summed (HIER), bn_freeze',
      featureDim: 2048,
      defaultImageSize: 224,
      weightNames: 'torchvision',
      pretrained: {
        source: 'torchvision ResNet50_Weights.IMAGENET1K_V1 (resnet50-0676ba61.pth)',
        howTo: `pip install torch torchvision safetensors; python -c "import torchvision, safetensors.torch as st; m = torchvision.models.resnet50(weights='IMAGENET1K_V1'); st.save_file(m.state_dict(), 'resnet50.safetensors')"`,
      },
    },
    build: (o, rng) => new ResNetBody('resnet50', { block: 'bottleneck', layers: o.resnetLayers ?? [3, 4, 6, 3], inChannels: o.inChannels ?? 3, bnFreeze: o.bnFreeze ?? true }, rng),
  },
  resnet18: {
    info: {
      name: 'resnet18',
      family: 'resnet',
      description: 'torchvision ResNet-18 body, GAP + GMP summed, bn_freeze (not used by the HIER scripts)',
      featureDim: 512,
      defaultImageSize: 224,
      weightNames: 'torchvision',
      pretrained: {
        source: 'torchvision ResNet18_Weights.IMAGENET1K_V1',
        howTo: `pip install torch torchvision safetensors; python -c "import torchvision, safetensors.torch as st; m = torchvision.models.resnet18(weights='IMAGENET1K_V1'); st.save_file(m.state_dict(), 'resnet18.safetensors')"`,
      },
    },
    build: (o, rng) => new ResNetBody('resnet18', { block: 'basic', layers: o.resnetLayers ?? [2, 2, 2, 2], inChannels: o.inChannels ?? 3, bnFreeze: o.bnFreeze ?? true }, rng),
  },
  vit_small_patch16_224: {
    info: {
      name: 'vit_small_patch16_224',
      family: 'vit',
      description: 'timm 0.4.12 ViT-S/16 (AugReg IN-21k → IN-1k), CLS after the final norm',
      featureDim: 384,
      defaultImageSize: 224,
      patchSize: 16,
      weightNames: 'timm',
      pretrained: { source: 'timm vit_small_patch16_224 (augreg_in21k_ft_in1k, HF hub)', howTo: TIMM_HOWTO('vit_small_patch16_224.augreg_in21k_ft_in1k') },
    },
    build: vit('vit_small_patch16_224', { embedDim: 384, depth: 12, numHeads: 6, patch: 16, image: 224 }),
  },
  deit_small_distilled_patch16_224: {
    info: {
      name: 'deit_small_distilled_patch16_224',
      family: 'vit',
      description: 'timm 0.4.12 DeiT-S distilled: CLS in train mode, (CLS + DIST)/2 in eval mode',
      featureDim: 384,
      defaultImageSize: 224,
      patchSize: 16,
      weightNames: 'timm',
      pretrained: { source: 'timm deit_small_distilled_patch16_224 (fb_in1k)', howTo: TIMM_HOWTO('deit_small_distilled_patch16_224.fb_in1k') },
    },
    build: vit('deit_small_distilled_patch16_224', { embedDim: 384, depth: 12, numHeads: 6, patch: 16, image: 224, distilled: true }),
  },
  dino_vits16: {
    info: {
      name: 'dino_vits16',
      family: 'vit',
      description: 'DINO ViT-S/16 (self-supervised IN-1k), LN eps 1e-6, CLS after the final norm',
      featureDim: 384,
      defaultImageSize: 224,
      patchSize: 16,
      weightNames: 'timm',
      pretrained: {
        source: 'facebookresearch/dino dino_deitsmall16_pretrain.pth (torch.hub dino_vits16)',
        howTo: `pip install torch safetensors; python -c "import torch, safetensors.torch as st; m = torch.hub.load('facebookresearch/dino:main', 'dino_vits16'); st.save_file(m.state_dict(), 'dino_vits16.safetensors')"`,
      },
    },
    build: vit('dino_vits16', { embedDim: 384, depth: 12, numHeads: 6, patch: 16, image: 224, resize: 'dino' }),
  },
  vit_tiny_patch16_224: {
    info: {
      name: 'vit_tiny_patch16_224',
      family: 'vit',
      description: 'timm 0.4.12 ViT-Ti/16 (dim 192, depth 12, 3 heads)',
      featureDim: 192,
      defaultImageSize: 224,
      patchSize: 16,
      weightNames: 'timm',
      pretrained: { source: 'timm vit_tiny_patch16_224 (augreg_in21k_ft_in1k)', howTo: TIMM_HOWTO('vit_tiny_patch16_224.augreg_in21k_ft_in1k') },
    },
    build: vit('vit_tiny_patch16_224', { embedDim: 192, depth: 12, numHeads: 3, patch: 16, image: 224 }),
  },
  vit_tiny: {
    info: {
      name: 'vit_tiny',
      family: 'vit',
      description: 'configurable small ViT for CPU runs (dim 192, depth 12, 3 heads; default patch 8 at 64 px)',
      featureDim: 192,
      defaultImageSize: 64,
      patchSize: 8,
      weightNames: 'timm',
    },
    build: vit('vit_tiny', { embedDim: 192, depth: 12, numHeads: 3, patch: 8, image: 64 }),
  },
  cnn4: {
    info: {
      name: 'cnn4',
      family: 'cnn',
      description: 'Fashion-MNIST reference CNN: 4 × (conv3×3 no bias → BN → ReLU), 3 max-pools, GAP (256-d)',
      featureDim: 256,
      defaultImageSize: 28,
      weightNames: 'none',
    },
    build: (o, rng) => new Cnn4Body('cnn4', { inChannels: o.inChannels ?? 1, bnFreeze: o.bnFreeze ?? false }, rng),
  },
};

export function listModels(): string[] {
  return Object.keys(REGISTRY);
}

function entry(name: string): Entry {
  const e = Object.hasOwn(REGISTRY, name) ? REGISTRY[name] : undefined;
  if (!e) throw new HierError('E_UNKNOWN_MODEL', `unknown model '${name}'; known models: ${listModels().join(', ')}`);
  return e;
}

export function modelInfo(name: string): ModelInfo {
  return structuredClone(entry(name).info);
}

/** Builds body + HIER head with fresh (seeded) weights. Load pretrained weights with `loadWeights`. */
export function createModel(name: string, options: ModelOptions = {}): HierModel {
  const e = entry(name);
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const imageSize = options.imageSize ?? e.info.defaultImageSize;
  if (!(Number.isInteger(imageSize) && imageSize > 0)) throw new HierError('E_CONFIG', `${name}: imageSize must be a positive integer, got ${imageSize}`);
  const body = e.build({ ...options, imageSize }, rng);
  try {
    const head = new HierHead(
      { inDim: body.featureDim, emb: options.embeddingDim ?? 128, hypC: options.hypC ?? 0.1, clipR: options.clipR ?? 2.3, lastNorm: options.lastNorm ?? true },
      rng,
    );
    const inChannels = options.inChannels ?? (name === 'cnn4' ? 1 : 3);
    return new HierModel(name, body, head, imageSize, inChannels);
  } catch (err) {
    body.params.dispose();
    throw err;
  }
}
