namespace OspBridge.Testing.Audio;

/// <summary>Finds the dominant tone of decoded 48 kHz PCM (Goertzel power over 100–4000 Hz in 5 Hz steps).</summary>
public static class ToneAnalysis
{
    /// <summary>The frequency (Hz) with the most power in <paramref name="x"/>, sampled at 48 kHz.</summary>
    public static int StrongestTone(ReadOnlySpan<double> x)
    {
        int bestHz = 0;
        double best = 0;
        for (int hz = 100; hz <= 4000; hz += 5)
        {
            double w = 2 * Math.PI * hz / 48000, c = 2 * Math.Cos(w), s1 = 0, s2 = 0;
            foreach (double v in x)
            {
                double s0 = v + (c * s1) - s2;
                s2 = s1;
                s1 = s0;
            }
            double p = (s1 * s1) + (s2 * s2) - (c * s1 * s2);
            if (p > best) { best = p; bestHz = hz; }
        }
        return bestHz;
    }
}
