using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Osp.Auth;

namespace OspBridge.Osp.Tests.Auth;

public sealed class AuthAttemptLimiterTests
{
    private static readonly string Fp = AuthPair.Fingerprint("attacker");
    private static readonly IPAddress Address = IPAddress.Parse("192.0.2.7");

    [Fact]
    public void Back_off_schedule_is_0_1_2_4_8_16_32_then_capped_at_60_seconds()
    {
        var limiter = new AuthAttemptLimiter();
        int[] expected = [0, 1, 2, 4, 8, 16, 32, 60, 60, 60];
        for (int failures = 0; failures < expected.Length; failures++)
        {
            Assert.Equal(TimeSpan.FromSeconds(expected[failures]), limiter.BackoffAfter(failures));
        }

        Assert.Equal(TimeSpan.FromSeconds(60), limiter.BackoffAfter(10_000)); // no overflow
    }

    [Fact]
    public void Each_failure_blocks_the_peer_for_its_back_off_in_virtual_time()
    {
        var time = new FakeTimeProvider();
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { TimeProvider = time });
        Assert.True(limiter.TryBeginAttempt(Fp, Address, out var wait));
        Assert.Equal(TimeSpan.Zero, wait);

        int[] schedule = [1, 2, 4, 8, 16, 32, 60, 60];
        foreach (int seconds in schedule)
        {
            Assert.Equal(TimeSpan.FromSeconds(seconds), limiter.RecordFailure(Fp, Address));
            Assert.False(limiter.TryBeginAttempt(Fp, Address, out wait));
            Assert.Equal(TimeSpan.FromSeconds(seconds), wait);
            time.Advance(TimeSpan.FromSeconds(seconds) - TimeSpan.FromMilliseconds(1));
            Assert.False(limiter.TryBeginAttempt(Fp, Address, out wait));
            Assert.Equal(TimeSpan.FromMilliseconds(1), wait);
            time.Advance(TimeSpan.FromMilliseconds(1));
            Assert.True(limiter.TryBeginAttempt(Fp, Address, out _));
        }
    }

    [Fact]
    public void Fingerprint_and_address_are_limited_separately_and_together()
    {
        var time = new FakeTimeProvider();
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { TimeProvider = time });
        limiter.RecordFailure(Fp, Address);
        limiter.RecordFailure(Fp, Address);

        // A new key from the same address is still blocked (address key) ...
        Assert.False(limiter.TryBeginAttempt(AuthPair.Fingerprint("fresh key"), Address, out var wait));
        Assert.Equal(TimeSpan.FromSeconds(2), wait);

        // ... and the same key from a new address too (fingerprint key); IPv4-mapped IPv6 is the same address.
        Assert.False(limiter.TryBeginAttempt(Fp, IPAddress.Parse("198.51.100.1"), out _));
        Assert.False(limiter.TryBeginAttempt(null, Address.MapToIPv6(), out _));
        Assert.True(limiter.TryBeginAttempt(AuthPair.Fingerprint("other"), IPAddress.Parse("198.51.100.1"), out _));
        Assert.Equal(2, limiter.FailuresOf(Fp));
        Assert.Equal(2, limiter.FailuresOf(Address));
    }

    [Fact]
    public void After_five_failures_the_peer_is_flagged_and_the_token_rotation_requested()
    {
        var time = new FakeTimeProvider();
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { TimeProvider = time });
        var flagged = new List<OspSuspiciousPeer>();
        limiter.SuspiciousPeer += (_, p) => flagged.Add(p);
        for (int i = 1; i <= 4; i++)
        {
            limiter.RecordFailure(Fp, Address);
            Assert.False(limiter.IsSuspicious(Fp));
            Assert.False(limiter.AuthTokenRotationRequested);
        }

        limiter.RecordFailure(Fp, Address);
        Assert.True(limiter.IsSuspicious(Fp));
        Assert.True(limiter.AuthTokenRotationRequested);
        Assert.Equal([new OspSuspiciousPeer("fp:" + Fp, 5), new OspSuspiciousPeer("ip:192.0.2.7", 5)], flagged);

        limiter.AcknowledgeAuthTokenRotation();
        Assert.False(limiter.AuthTokenRotationRequested);
        Assert.True(limiter.IsSuspicious(Fp)); // the peer stays flagged

        // A further failure is reported again but does not ask for another rotation (one per episode).
        time.Advance(TimeSpan.FromMinutes(2));
        limiter.RecordFailure(Fp, Address);
        Assert.Equal(4, flagged.Count);
        Assert.False(limiter.AuthTokenRotationRequested);
    }

    [Fact]
    public void Success_clears_the_peer()
    {
        var time = new FakeTimeProvider();
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { TimeProvider = time });
        limiter.RecordFailure(Fp, Address);
        time.Advance(TimeSpan.FromSeconds(1));
        limiter.RecordSuccess(Fp, Address);
        Assert.Equal(0, limiter.FailuresOf(Fp));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.RecordFailure(Fp, Address)); // the schedule starts over
    }

    [Fact]
    public void Failures_are_forgotten_after_a_quiet_hour()
    {
        var time = new FakeTimeProvider();
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { TimeProvider = time });
        for (int i = 0; i < 3; i++) limiter.RecordFailure(Fp, Address);
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.RecordFailure(Fp, Address));
        Assert.Equal(1, limiter.FailuresOf(Fp));
    }

    [Fact]
    public void Memory_is_bounded_under_a_flood_of_new_keys()
    {
        var time = new FakeTimeProvider();
        var limiter = new AuthAttemptLimiter(new AuthAttemptLimiterOptions { TimeProvider = time, MaxEntries = 64 });
        for (int i = 0; i < 10_000; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            limiter.RecordFailure("fp" + i, new IPAddress(BitConverter.GetBytes(i)));
        }

        int remembered = Enumerable.Range(0, 10_000).Count(i => limiter.FailuresOf("fp" + i) > 0);
        Assert.InRange(remembered, 1, 64);
        Assert.Equal(1, limiter.FailuresOf("fp9999")); // the newest is kept
    }
}
