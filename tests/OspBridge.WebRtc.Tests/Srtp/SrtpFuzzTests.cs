using System.Diagnostics;
using OspBridge.Crypto.Dtls;
using OspBridge.Testing;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Srtp;
using OspBridge.WebRtc.Tests.Rtp;

namespace OspBridge.WebRtc.Tests.Srtp;

/// <summary>Mutated SRTP/SRTCP into live contexts (fixed seed): never throws, never authenticates a forgery, bounded state, no per-packet allocation.</summary>
public class SrtpFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData(SrtpProtectionProfile.Aes128CmHmacSha1_80)]
    [InlineData(SrtpProtectionProfile.AeadAes128Gcm)]
    public void Fuzz_unprotect_50k_mutated_packets(SrtpProtectionProfile profile)
    {
        var key = new byte[16];
        var salt = new byte[profile == SrtpProtectionProfile.AeadAes128Gcm ? 12 : 14];
        new Random(1).NextBytes(key);
        using var tx = new SrtpContext(profile, key, salt);
        using var rx = new SrtpContext(profile, key, salt);
        var corpus = new List<byte[]>();
        var buf = new byte[2048];
        foreach (var p in RtpFuzzTests.RtpCorpus())
        {
            p.CopyTo(buf, 0);
            Assert.True(tx.TryProtectRtp(buf, p.Length, out int n));
            corpus.Add(buf[..n]);
        }
        foreach (var p in RtpFuzzTests.RtcpCorpus())
        {
            p.CopyTo(buf, 0);
            Assert.True(tx.TryProtectRtcp(buf, p.Length, out int n));
            corpus.Add(buf[..n]);
        }
        var rnd = new Random(99);
        var work = new byte[4096];
        // warm up the per-SSRC state so the measured loop shows the steady state
        for (int i = 0; i < 100; i++)
        {
            RtpFuzzTests.Mutate(rnd, corpus[rnd.Next(corpus.Count)], work, out int len);
            _ = RtpHeader.IsRtcp(work.AsSpan(0, len)) ? rx.TryUnprotectRtcp(work.AsSpan(0, len), out _) : rx.TryUnprotectRtp(work.AsSpan(0, len), out _);
        }
        var sw = Stopwatch.StartNew();
        // The BCL's AesGcm (the fallback when libcrypto does not load, or OSPBRIDGE_AEAD=bcl) reports a bad tag
        // only by throwing AuthenticationTagMismatchException: each forged GCM packet costs one exception (~300 B).
        // Bounded per packet, never retained (docs/media.md). On libcrypto a forgery is a plain false: no allocation.
        bool exceptionPerForgery = profile == SrtpProtectionProfile.AeadAes128Gcm && !OspBridge.Crypto.Aead.AesGcmCipher.NativeInUse;
        long Limit(long failures) => exceptionPerForgery ? 400 * (failures + 1) : 16_384;
        (int Accepted, long Failures, long Bytes) Window()
        {
            int forged = 0;
            long failuresBefore = rx.AuthenticationFailures;
            long bytes = Allocations.Of(() =>
            {
                for (int i = 0; i < 50_000; i++)
                {
                    RtpFuzzTests.Mutate(rnd, corpus[rnd.Next(corpus.Count)], work, out int len);
                    var span = work.AsSpan(0, len);
                    bool ok = RtpHeader.IsRtcp(span) ? rx.TryUnprotectRtcp(span, out _) : rx.TryUnprotectRtp(span, out _);
                    if (ok)
                        forged++;
                }
            });
            return (forged, rx.AuthenticationFailures - failuresBefore, bytes);
        }

        // Windows of 50 000 packets into the same context (the next window mutates afresh), the one furthest under its
        // limit counted: a one-off runtime allocation lands in one window, a per-packet allocation in all.
        var (accepted, failures, alloc) = Allocations.LeastOf(3, Window, w => w.Bytes - Limit(w.Failures), enough: -1);
        output.WriteLine($"{profile}: 50000 mutated, {accepted} accepted, {failures} auth failures, {rx.ReplaysRejected} replays, {alloc} bytes, {sw.Elapsed}");
        // A mutation that changes no authenticated octet (pure truncation to the same length is impossible) can only
        // pass if it reproduced an original packet, which the replay window then refuses after the first time.
        Assert.True(accepted <= corpus.Count, $"{accepted} forged packets accepted");
        Assert.True(failures > 10_000, $"{failures} authentication failures in the window");
        Assert.True(alloc < Limit(failures), $"allocated {alloc} bytes in the least of up to 3 windows (limit {Limit(failures)})");
    }
}
