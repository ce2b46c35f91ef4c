using Microsoft.AspNetCore.Http;
using OspBridge.Bridge.Relay;

namespace OspBridge.Bridge.Tests.Relay;

public sealed class RelayEndpointsTests
{
    [Theory]
    [InlineData("/whep/abc", "abc")]
    [InlineData("/whip/dev-1", "dev-1")]
    [InlineData("/whep/abc/sessions/x", null)]
    [InlineData("/api/devices", null)]
    [InlineData("/whep", null)]
    public void WhepDevice_names_the_device_of_an_endpoint_path_only(string path, string? device) =>
        Assert.Equal(device, RelayEndpoints.WhepDevice(new PathString(path)));

    [Fact]
    public void Link_header_is_the_RFC_9725_ice_server_form()
    {
        var e = new IceServerEntry(["turn:10.0.0.2:3478?transport=udp"], "99;10.1.0.1;abc", "secret");
        Assert.Equal("<turn:10.0.0.2:3478?transport=udp>; rel=\"ice-server\"; username=\"99;10.1.0.1;abc\"; credential=\"secret\"; credential-type=\"password\"",
            RelayEndpoints.LinkHeader(e));
    }

    [Fact]
    public void Local_address_towards_loopback_is_loopback()
    {
        Assert.Equal(IPAddress.Loopback, RelayEndpoints.LocalAddressTowards(IPAddress.Loopback));
    }

    [Fact]
    public void Credentials_validate_until_they_expire_and_carry_the_relay_address()
    {
        byte[] secret = new byte[32];
        var (user, password) = TurnCredentials.Mint(secret, IPAddress.Parse("10.2.0.254"), TimeSpan.FromSeconds(100));
        Assert.True(TurnCredentials.TryValidate(secret, user, TimeSpan.FromSeconds(99), out var relay, out var exp, out var key));
        Assert.Equal(IPAddress.Parse("10.2.0.254"), relay);
        Assert.Equal(TimeSpan.FromSeconds(100), exp);
        Assert.Equal(TurnCredentials.LongTermKey(user, TurnCredentials.Realm, password), key);
        Assert.False(TurnCredentials.TryValidate(secret, user, TimeSpan.FromSeconds(100), out _, out _, out _));
        Assert.False(TurnCredentials.TryValidate(secret, "junk", TimeSpan.Zero, out _, out _, out _));
        Assert.False(TurnCredentials.TryValidate(secret, new string('9', 200), TimeSpan.Zero, out _, out _, out _));
    }
}
