// Resamples the input channel to targetRate by linear interpolation and posts PCM s16le frames
// of frameMs as transferable ArrayBuffers.
class Pcm16k extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const {targetRate, frameMs} = options.processorOptions;
    this.step = sampleRate / targetRate;  // input samples per output sample
    this.frame = new Int16Array(Math.round(targetRate * frameMs / 1000));
    this.filled = 0;
    this.pos = 0;      // read position in input samples, relative to the current block
    this.last = 0;     // the previous block's last sample, for interpolation across blocks
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    while (this.pos < input.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const a = i === 0 && frac < 0 ? this.last : input[i];
      const b = i + 1 < input.length ? input[i + 1] : input[i];
      const v = Math.max(-1, Math.min(1, a + (b - a) * frac));
      this.frame[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.filled === this.frame.length) {
        const out = this.frame.slice();
        this.port.postMessage(out.buffer, [out.buffer]);
        this.filled = 0;
      }
      this.pos += this.step;
    }
    this.pos -= input.length;
    this.last = input[input.length - 1];
    return true;
  }
}

registerProcessor("pcm16k", Pcm16k);
