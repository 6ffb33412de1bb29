#include "resolver/policy/privatelink_table.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vnetdns::policy {
namespace {

// zones/azure-privatelink-zones.txt, verbatim (tests/unit/zonetool checks they are equal).
constexpr std::string_view kBuiltin = R"TABLE(
# Azure Private Link: each public DNS zone of an Azure service and the private zone its names
# CNAME into (Azure documentation, "Azure Private Endpoint private DNS zone values", public
# cloud). A VM inside a VNet resolves myregistry.azurecr.io -> CNAME
# myregistry.privatelink.azurecr.io -> the private endpoint's address, when the private zone is
# served to it (by Azure private DNS, or by vnetdns from a zone file).
#
# Used by `vnetdns zone import` (public name -> private zone) and by the forward rule
# `zone = "@azure-privatelink"` (forward every zone below to Azure's resolver in one line).
# Format: PUBLIC-ZONE  PRIVATE-ZONE  SERVICE (the rest of the line); "#" starts a comment.
# A public zone appears once; several public zones may share a private zone (Key Vault).
# Zones that carry a region or a customer prefix ({region}.azmk8s.io, {region}.backup...,
# {prefix}.database.windows.net of SQL Managed Instance) are not listed: add them by hand.
#
# public zone                     private zone                                  service
azurecr.io                        privatelink.azurecr.io                        Container Registry (registry and REGION.data endpoints)
blob.core.windows.net             privatelink.blob.core.windows.net             Storage: blob
file.core.windows.net             privatelink.file.core.windows.net             Storage: file
queue.core.windows.net            privatelink.queue.core.windows.net            Storage: queue
table.core.windows.net            privatelink.table.core.windows.net            Storage: table
dfs.core.windows.net              privatelink.dfs.core.windows.net              Storage: Data Lake Storage Gen2
web.core.windows.net              privatelink.web.core.windows.net              Storage: static website
vault.azure.net                   privatelink.vaultcore.azure.net               Key Vault
vaultcore.azure.net               privatelink.vaultcore.azure.net               Key Vault
managedhsm.azure.net              privatelink.managedhsm.azure.net              Key Vault Managed HSM
database.windows.net              privatelink.database.windows.net              SQL Database, Synapse dedicated SQL pool
sql.azuresynapse.net              privatelink.sql.azuresynapse.net              Synapse Analytics: SQL
dev.azuresynapse.net              privatelink.dev.azuresynapse.net              Synapse Analytics: Dev
azuresynapse.net                  privatelink.azuresynapse.net                  Synapse Studio
documents.azure.com               privatelink.documents.azure.com               Cosmos DB: NoSQL
mongo.cosmos.azure.com            privatelink.mongo.cosmos.azure.com            Cosmos DB: MongoDB
cassandra.cosmos.azure.com        privatelink.cassandra.cosmos.azure.com        Cosmos DB: Cassandra
gremlin.cosmos.azure.com          privatelink.gremlin.cosmos.azure.com          Cosmos DB: Gremlin
table.cosmos.azure.com            privatelink.table.cosmos.azure.com            Cosmos DB: Table
postgres.database.azure.com       privatelink.postgres.database.azure.com       Database for PostgreSQL (single server)
mysql.database.azure.com          privatelink.mysql.database.azure.com          Database for MySQL (single server)
mariadb.database.azure.com        privatelink.mariadb.database.azure.com        Database for MariaDB
redis.cache.windows.net           privatelink.redis.cache.windows.net           Cache for Redis
servicebus.windows.net            privatelink.servicebus.windows.net            Service Bus, Event Hubs, Relay
eventgrid.azure.net               privatelink.eventgrid.azure.net               Event Grid
azurewebsites.net                 privatelink.azurewebsites.net                 App Service, Functions
scm.azurewebsites.net             scm.privatelink.azurewebsites.net             App Service: Kudu (scm)
search.windows.net                privatelink.search.windows.net                AI Search
azconfig.io                       privatelink.azconfig.io                       App Configuration
service.signalr.net               privatelink.service.signalr.net               SignalR
webpubsub.azure.com               privatelink.webpubsub.azure.com               Web PubSub
cognitiveservices.azure.com       privatelink.cognitiveservices.azure.com       AI services (Cognitive Services)
openai.azure.com                  privatelink.openai.azure.com                  Azure OpenAI
monitor.azure.com                 privatelink.monitor.azure.com                 Azure Monitor
oms.opinsights.azure.com          privatelink.oms.opinsights.azure.com          Azure Monitor: Log Analytics
ods.opinsights.azure.com          privatelink.ods.opinsights.azure.com          Azure Monitor: Log Analytics ingestion
agentsvc.azure-automation.net     privatelink.agentsvc.azure-automation.net     Azure Monitor: agent service
azure-automation.net              privatelink.azure-automation.net              Automation
datafactory.azure.net             privatelink.datafactory.azure.net             Data Factory
adf.azure.com                     privatelink.adf.azure.com                     Data Factory: portal
api.azureml.ms                    privatelink.api.azureml.ms                    Machine Learning
notebooks.azure.net               privatelink.notebooks.azure.net               Machine Learning: notebooks
azure-devices.net                 privatelink.azure-devices.net                 IoT Hub
azure-devices-provisioning.net    privatelink.azure-devices-provisioning.net    IoT Hub Device Provisioning
digitaltwins.azure.net            privatelink.digitaltwins.azure.net            Digital Twins
purview.azure.com                 privatelink.purview.azure.com                 Purview
azuredatabricks.net               privatelink.azuredatabricks.net               Databricks
azurestaticapps.net               privatelink.azurestaticapps.net               Static Web Apps
batch.azure.com                   privatelink.batch.azure.com                   Batch
afs.azure.net                     privatelink.afs.azure.net                     File Sync
grafana.azure.com                 privatelink.grafana.azure.com                 Managed Grafana
)TABLE";

bool has_privatelink_label(const wire::Name& n) {
  const std::string t = "." + n.to_text();
  return t.find(".privatelink.") != std::string::npos;
}

}  // namespace

std::string_view PrivateLinkTable::builtin_text() { return kBuiltin.substr(1); }

const PrivateLinkTable& PrivateLinkTable::builtin() {
  static const PrivateLinkTable table = [] {
    auto r = parse(builtin_text(), "<builtin azure-privatelink-zones.txt>");
    return r.ok() ? std::move(r.value()) : PrivateLinkTable{};
  }();
  return table;
}

util::Result<PrivateLinkTable, std::string> PrivateLinkTable::parse(std::string_view text,
                                                                    std::string_view display_name) {
  PrivateLinkTable t;
  std::istringstream in{std::string(text)};
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto fail = [&](const std::string& why) {
      return util::Err(std::string(display_name) + ":" + std::to_string(line_no) + ": " + why);
    };
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::string pub, priv;
    if (!(fields >> pub)) continue;
    if (!(fields >> priv)) return fail("expected PUBLIC-ZONE PRIVATE-ZONE [SERVICE]");
    std::string service;
    std::getline(fields, service);
    service.erase(0, service.find_first_not_of(" \t"));
    while (!service.empty() && (service.back() == ' ' || service.back() == '\r'))
      service.pop_back();
    wire::NameError e1 = wire::NameError::kNone, e2 = wire::NameError::kNone;
    PrivateLinkZone z{wire::Name::from_text(pub, &e1), wire::Name::from_text(priv, &e2), service};
    if (e1 != wire::NameError::kNone || z.public_zone.is_root())
      return fail("bad zone name " + pub);
    if (e2 != wire::NameError::kNone || z.private_zone.is_root())
      return fail("bad zone name " + priv);
    if (!has_privatelink_label(z.private_zone)) {
      return fail(priv + " has no 'privatelink' label");
    }
    for (const auto& o : t.zones_) {
      if (o.public_zone == z.public_zone) return fail(pub + " is listed twice");
    }
    t.zones_.push_back(std::move(z));
  }
  if (t.zones_.empty()) return util::Err(std::string(display_name) + ":1: no zones");
  return t;
}

util::Result<PrivateLinkTable, std::string> PrivateLinkTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::Err(path + ":1: cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

std::optional<PrivateName> PrivateLinkTable::to_private(const wire::Name& name) const {
  const PrivateLinkZone* best_private = nullptr;
  const PrivateLinkZone* best_public = nullptr;
  for (const auto& z : zones_) {
    if (name.is_subdomain_of(z.private_zone) &&
        (!best_private ||
         z.private_zone.label_count() > best_private->private_zone.label_count())) {
      best_private = &z;
    }
    if (name != z.public_zone && name.is_subdomain_of(z.public_zone) &&
        (!best_public || z.public_zone.label_count() > best_public->public_zone.label_count())) {
      best_public = &z;
    }
  }
  if (best_private) return PrivateName{name, best_private->private_zone};
  if (!best_public) return std::nullopt;
  // The labels of `name` below the public zone, put in front of the private zone.
  const std::size_t prefix = name.size() - best_public->public_zone.size();
  const wire::Name& zone = best_public->private_zone;
  if (prefix + zone.size() > wire::kMaxNameLength) return std::nullopt;  // too long once moved
  std::uint8_t buf[wire::kMaxNameLength];
  std::memcpy(buf, name.data(), prefix);
  std::memcpy(buf + prefix, zone.data(), zone.size());
  wire::Name out;
  if (!out.assign_wire(buf, prefix + zone.size())) return std::nullopt;
  return PrivateName{out, zone};
}

std::vector<wire::Name> PrivateLinkTable::forward_zones() const {
  std::vector<wire::Name> out;
  for (const auto& z : zones_) {
    for (const auto* n : {&z.public_zone, &z.private_zone}) {
      if (std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
    }
  }
  return out;
}

}  // namespace vnetdns::policy
