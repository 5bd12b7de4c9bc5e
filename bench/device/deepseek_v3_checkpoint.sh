# Sourced by deepseek_v3_calibrate.sh (CPU) and deepseek_v3_gpu_calibrate.sh (GPU): the random FP8 DeepSeek-V3
# checkpoint at the real layer shapes in $DIR (1 dense + $MOE_LAYERS MoE layers, fewer where the disk has no room;
# $SHAPE overrides RandomDeepSeekV3's shape), reused when $DIR holds one already; then its size, its file system and
# the page cache dropped (as root, unless DROP_CACHE=0). Needs bench (the DeepSeekV3CalibrateBench command).
ds3_checkpoint() {
  if [ ! -f "$DIR/model.safetensors.index.json" ]; then
    rm -rf "$DIR" "$DIR-warmup"
    mkdir -p "$(dirname "$DIR")"
    if [ -z "$SHAPE" ]; then
      # 11.6 GB per MoE layer, 1.4 GB for the dense layer, embedding and head: keep 6 GB free beside them.
      free_gb=$(df -BG --output=avail "$(dirname "$DIR")" | tail -1 | tr -dc 0-9)
      fit=$(( (free_gb - 6 - 2) * 10 / 116 ))
      if [ "$fit" -lt "$MOE_LAYERS" ]; then
        echo "only ${free_gb} GB free: $fit MoE layers instead of $MOE_LAYERS"; MOE_LAYERS=$fit
      fi
      if [ "$MOE_LAYERS" -lt 1 ]; then echo "not enough disk for one MoE layer (${free_gb} GB free)" >&2; return 2; fi
    fi
    bench "$DIR" --generate --shape "moeLayers=$MOE_LAYERS${SHAPE:+,$SHAPE}" || return 1
    t=$(date +%s); sync; echo "sync (page cache written back) $(( $(date +%s) - t )) s"
  else
    echo "reusing $DIR"
  fi
  du -sh "$DIR"
  echo "$DIR is on $(df --output=fstype "$DIR" | tail -1) ($(df -h --output=avail "$DIR" | tail -1 | tr -d ' ') free)"
  if [ "${DROP_CACHE:-1}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then
    sync; echo 3 > /proc/sys/vm/drop_caches; echo "page cache dropped"
  else
    echo "page cache not dropped (DROP_CACHE=0 or not root): bytes read count only what was not cached"
  fi
}
