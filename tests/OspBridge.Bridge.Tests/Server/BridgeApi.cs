using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Bridge.Server;
using OspBridge.Crypto.Identity;

namespace OspBridge.Bridge.Tests.Server;

/// <summary>
/// The bridge steps the server tests share: an in-process device registry on lo, find a device by name, pair it with
/// the PIN its agent prints.
/// </summary>
internal static class BridgeApi
{
    /// <summary>A started <see cref="DeviceRegistry"/> as <c>serve</c> builds it: discovery on lo, trust in <paramref name="state"/>.</summary>
    public static async Task<DeviceRegistry> StartDevicesAsync(AgentIdentity identity, string state)
    {
        var devices = new DeviceRegistry(identity, PeerTrust.Open(state), ["lo"], NullLoggerFactory.Instance);
        try
        {
            await devices.StartAsync(CancellationToken.None);
            return devices;
        }
        catch
        {
            await devices.DisposeAsync();
            throw;
        }
    }

    /// <summary>The id of the device called <paramref name="name"/> once <paramref name="until"/> holds for it (default: online).</summary>
    public static async Task<string> DeviceIdAsync(HttpClient api, string name, TimeSpan timeout, Func<JsonElement, bool>? until = null)
    {
        until ??= d => d.GetProperty("online").GetBoolean();
        var clock = Stopwatch.StartNew();
        string seen = "";
        while (clock.Elapsed < timeout)
        {
            seen = await api.GetStringAsync("/api/devices");
            foreach (var d in JsonDocument.Parse(seen).RootElement.EnumerateArray())
                if (d.GetProperty("name").GetString() == name && until(d)) return d.GetProperty("id").GetString()!;
            await Task.Delay(250);
        }
        throw new TimeoutException($"device '{name}' not in the wanted state after {timeout.TotalSeconds} s: {seen}");
    }

    /// <summary><c>POST /api/devices/{id}/pair {}</c> (202), the PIN from the agent's next <c>PIN:</c> line, then the PIN (200).</summary>
    public static async Task PairWithPinAsync(HttpClient api, CliChild agent, string id, TimeSpan timeout)
    {
        int from = agent.Lines.Count;
        var start = await api.PostAsync($"/api/devices/{id}/pair", Json("{}"));
        Assert.True(start.StatusCode == HttpStatusCode.Accepted, $"pair {{}}: {start.StatusCode} {await start.Content.ReadAsStringAsync()}");
        var (pinLine, _) = await agent.WaitForLineAsync(l => l.StartsWith("PIN: ", StringComparison.Ordinal), timeout, from);
        var ok = await api.PostAsync($"/api/devices/{id}/pair", Json($"{{\"pin\":\"{pinLine["PIN: ".Length..].Trim()}\"}}"));
        Assert.True(ok.StatusCode == HttpStatusCode.OK, $"pair with the PIN: {ok.StatusCode} {await ok.Content.ReadAsStringAsync()}");
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
